"""robosuite 1.4 tasks behind the skill_rl env interface (ids ``skill_rl/Robosuite-<Task>-v0``).

A thin wrapper: robosuite simulates, rewards and decides success; this module only translates the action,
the observation and ``info`` into the same conventions as the MuJoCo tabletop envs (``tabletop/base.py``),
so a policy or skill written against one runs against the other. robosuite is imported only when an env is
constructed (``pip install 'skill-rl[sim]'``); tested with robosuite 1.4.0 and mujoco 3.3.x.

Tasks: ``Lift``, ``Stack``, ``PickPlaceCan`` (robosuite's ``PickPlaceCan``: one can, fixed target bin) and
``Door`` (robosuite's default latched door: turn the handle, then pull), always with a Panda.

Action (``controller="ee_delta"``, the only one): 7-d Box(-1, 1), ``[dx, dy, dz, drx, dry, drz, gripper]``,
clipped to [-1, 1]. robosuite's ``OSC_POSE`` controller with ``control_delta=True`` scales the first six
linearly, exactly like the tabletop envs: ``dx, dy, dz`` -> a goal displacement of the grip site of at most
``max_ee_step_m`` = 0.05 m per control step in the world frame (robosuite's default, unchanged), ``drx, dry,
drz`` -> a world-frame rotation vector of at most ``max_ee_rot_rad`` = 0.3 rad applied to the current grip
orientation (robosuite's default is 0.5 rad; we set 0.3 to match the tabletop envs -- pass
``max_ee_rot_rad=0.5`` for robosuite's). These are *goals* for an impedance controller (kp = 150, critically
damped), not poses reached within the step. Measured (Lift, from the initial pose): holding ``dx``, ``dy`` or
``dz = 1`` moves the grip site ~0.5 cm in the first step and ~1.1-1.3 cm per step once under way (the
tabletop envs, whose IK tracks a persistent target: ~4.7 cm); holding ``drx``/``dry``/``drz = 1`` turns it ~0.05-0.07 rad per step.
Gripper: -1 fully open, +1 fully closed, linear in between (finger position targets, as in the tabletop
envs). robosuite's own Panda gripper instead integrates ``sign(gripper)`` (0.25 of the stroke per control
step, 0 = hold); ``gripper_mode="robosuite"`` restores that.

Observation (``obs_mode="state"``): one flat float32 vector; ``env.obs_layout`` maps each field to its slice::

    joint_pos (7, rad) | joint_vel (7, rad/s) | eef_pos (3, m, world) | eef_quat (4, wxyz, world)
    | gripper_qpos (2, m, each finger's opening, >= 0)

then the task's fields (free objects ``<name>_pos (3)``, ``<name>_quat (4, wxyz)``, ``<name>_to_eef (3,
eef_pos - object pos)``):

* Lift: ``cube``.
* Stack: ``cube_red`` (robosuite's cubeA, the one to pick up) and ``cube_blue`` (cubeB, rendered green by
  robosuite, the base).
* PickPlaceCan: ``can``, then ``bin_pos (3)``: the centre of the can's quarter of the target bin (robosuite's
  ``target_bin_placements``; success = the can resting inside that quarter), at the bin's base height.
* Door: ``door_handle_pos (3)`` (the handle site), ``door_hinge (1, rad, 0 = closed)``.

``eef_pos`` is robosuite's ``grip_site`` (between the fingertips; robosuite's ``robot0_eef_pos``), the
point the OSC controller moves. ``eef_quat`` is the orientation of the hand body (robosuite's
``robot0_eef_quat``, converted from xyzw), whose axes are those of the tabletop envs' grip frame: z is the
approach direction (down at reset, tilted ~9 deg by robosuite's initial posture), the fingers open along y.
(robosuite's grip_site frame is turned 90 deg about z from it; world-frame rotation deltas turn both alike.)
All quaternions are wxyz (MuJoCo's order, read from the simulator; robosuite's own observables use xyzw and
are not used). World frame = robosuite's: origin on the floor at the centre of the arena, x forward (away from
the robot), y left, z up. Table tops are at z = 0.8 m (Lift, Stack: table top centred at (0, 0, 0.8); Door:
at (-0.2, -0.35, 0.8); PickPlaceCan: bins at z = 0.8, the start bin around (0.1, -0.25), the target bin
around (0.1, 0.28)); the robot base sits at about (-0.56, 0, 0.91) (PickPlaceCan: (-0.5, -0.1, 0.91)). This differs from the
tabletop envs, whose origin is on the table top; use relative fields (``*_to_eef``) to be frame-agnostic.
With ``obs_mode="state+image"`` the observation is ``{"state": vector, "image": uint8 (S, S, 3)}``.

Reward: ``reward_type="dense"`` is robosuite's shaped reward (``reward_shaping=True``, ``reward_scale=1``,
so at most 1 per step); ``"sparse"`` is 1.0 when robosuite's ``_check_success()`` holds, else 0.
``terminated`` is always False; ``truncated`` becomes True after ``max_episode_steps`` steps (robosuite runs
with ``ignore_done=True`` and never ends an episode itself).

info: ``is_success`` (bool, robosuite's ``_check_success()``), ``object_poses`` (name -> (x, y, z, qw, qx,
qy, qz), world), ``contacts`` (sorted list of entity pairs in contact, e.g. ``("cube", "gripper")``; entities
are ``arm``, ``gripper``, the task's objects and otherwise the top-level body's name such as ``table`` or
``world``), ``eef_pos``.

Seeding: robosuite draws object placements and the arm's initial joint noise from numpy's *global* RNG.
``reset`` seeds the global RNG from the env's own ``np_random`` around robosuite's reset and then restores
the previous global state, so the same seed gives the same episode and the caller's global RNG is untouched.

Speed: no renderer is created unless ``render_mode="rgb_array"`` or an image observation is asked for;
robosuite's observables are disabled (the observation is read directly from the simulator) and resets are
soft (``hard_reset=False``: the MuJoCo model is built once).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from .layout import OBS_MODES, REWARD_TYPES, ROBOT_FIELDS, build_layout, free_object_fields

TASKS = ("Lift", "Stack", "PickPlaceCan", "Door")
CONTROLLERS = ("ee_delta",)
GRIPPER_MODES = ("position", "robosuite")
INSTALL_HINT = "pip install 'skill-rl[sim]'"


def _import_robosuite():
    try:
        import robosuite
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(f"the Robosuite-* envs need robosuite 1.4 ({e}); install it with: {INSTALL_HINT}") from e
    return robosuite


class _GlobalNumpySeed:
    """Seed numpy's global RNG for the duration of a ``with`` block, then put its previous state back."""

    def __init__(self, seed: int):
        self.seed = seed

    def __enter__(self):
        self._saved = np.random.get_state()
        np.random.seed(self.seed)

    def __exit__(self, *exc):
        np.random.set_state(self._saved)
        return False


class RobosuiteEnv(gym.Env):
    """A robosuite 1.4 manipulation task with a Panda, in skill_rl's action/observation conventions."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(
        self,
        task: str,
        render_mode: str | None = None,
        controller: str = "ee_delta",
        reward_type: str = "dense",
        max_episode_steps: int = 200,
        control_freq: float = 20.0,
        obs_mode: str = "state",
        max_ee_step_m: float = 0.05,
        max_ee_rot_rad: float = 0.3,
        gripper_mode: str = "position",
        camera: str = "frontview",
        image_size: int = 64,
        render_size: tuple[int, int] = (240, 320),
    ):
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if controller not in CONTROLLERS:
            raise ValueError(f"controller must be one of {CONTROLLERS} for robosuite envs, got {controller!r}")
        if reward_type not in REWARD_TYPES:
            raise ValueError(f"reward_type must be one of {REWARD_TYPES}, got {reward_type!r}")
        if obs_mode not in OBS_MODES:
            raise ValueError(f"obs_mode must be one of {OBS_MODES}, got {obs_mode!r}")
        if gripper_mode not in GRIPPER_MODES:
            raise ValueError(f"gripper_mode must be one of {GRIPPER_MODES}, got {gripper_mode!r}")
        if control_freq <= 0 or max_episode_steps < 1:
            raise ValueError("control_freq must be positive and max_episode_steps >= 1")
        substeps = 1.0 / (control_freq * 0.002)  # robosuite's physics timestep is 2 ms
        if abs(substeps - round(substeps)) > 1e-6:
            raise ValueError(f"1 / (control_freq * 0.002 s) must be an integer, got {substeps:.4f}")

        self.task_name = task
        self.render_mode = render_mode
        self.controller = controller
        self.reward_type = reward_type
        self.max_episode_steps = int(max_episode_steps)
        self.control_freq = float(control_freq)
        self.obs_mode = obs_mode
        self.gripper_mode = gripper_mode
        self.camera = camera
        self.image_size = int(image_size)
        self.render_size = tuple(render_size)
        self.metadata = {**self.metadata, "render_fps": int(round(control_freq))}

        robosuite = _import_robosuite()
        import mujoco

        self._mujoco = mujoco
        cfg = robosuite.load_controller_config(default_controller="OSC_POSE")
        cfg["output_max"] = [max_ee_step_m] * 3 + [max_ee_rot_rad] * 3
        cfg["output_min"] = [-max_ee_step_m] * 3 + [-max_ee_rot_rad] * 3
        self.max_ee_step_m, self.max_ee_rot_rad = float(max_ee_step_m), float(max_ee_rot_rad)
        needs_renderer = render_mode == "rgb_array" or obs_mode == "state+image"
        try:
            with _GlobalNumpySeed(0):  # robosuite places objects (global RNG) already while constructing
                self._env = robosuite.make(
                    task,
                    robots="Panda",
                    controller_configs=cfg,
                    has_renderer=False,
                    has_offscreen_renderer=needs_renderer,
                    use_camera_obs=False,
                    use_object_obs=True,
                    reward_shaping=reward_type == "dense",
                    reward_scale=1.0,
                    control_freq=control_freq,
                    horizon=10**9,  # never reached: ignore_done=True, we truncate ourselves
                    ignore_done=True,
                    hard_reset=False,
                )
        except Exception as e:
            if not needs_renderer:
                raise
            raise RuntimeError(
                f"creating robosuite {task} with an offscreen renderer failed ({type(e).__name__}: {e}). If this is "
                "an OpenGL error, set MUJOCO_GL=egl (GPU) or MUJOCO_GL=osmesa (CPU, apt-get install libosmesa6) "
                "before mujoco/robosuite are imported"
            ) from e
        # We read the state straight from the simulator: robosuite's observables would only cost time.
        for name in list(self._env._observables):
            self._env.modify_observable(name, "enabled", False)
        self._setup_ids()
        self._build_layout()
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(7,), dtype=np.float32)
        state_space = gym.spaces.Box(-np.inf, np.inf, shape=(self.obs_dim,), dtype=np.float32)
        if obs_mode == "state":
            self.observation_space = state_space
        else:
            img = gym.spaces.Box(0, 255, shape=(self.image_size, self.image_size, 3), dtype=np.uint8)
            self.observation_space = gym.spaces.Dict({"state": state_space, "image": img})
        self._elapsed = 0
        self._needs_reset = True

    # ------------------------------------------------------------------ setup
    def _setup_ids(self) -> None:
        env = self._env
        m = env.sim.model._model
        robot = env.robots[0]
        self._robot = robot
        self._gripper = robot.gripper
        self._arm_qadr = np.array(robot._ref_joint_pos_indexes)
        self._arm_dadr = np.array(robot._ref_joint_vel_indexes)
        self._finger_qadr = np.array(robot._ref_gripper_joint_pos_indexes)
        # robosuite's finger_joint1 opens towards +, finger_joint2 towards -: sign flips make both openings >= 0.
        self._finger_sign = np.array([1.0, -1.0])
        self._eef_site = robot.eef_site_id
        # Orientation: the hand body (robosuite's ``robot0_eef_quat``), whose axes are those of the tabletop
        # envs' grip frame (z = approach, fingers open along y); grip_site itself is turned 90 deg about z.
        self._hand_body = m.body(robot.robot_model.eef_name).id

        # task objects: our name -> body id (free objects), plus per-task extras
        if self.task_name == "Lift":
            self._free_objects = {"cube": env.cube_body_id}
            obj_roots = {"cube": env.cube.root_body}
        elif self.task_name == "Stack":
            self._free_objects = {"cube_red": env.cubeA_body_id, "cube_blue": env.cubeB_body_id}
            obj_roots = {"cube_red": env.cubeA.root_body, "cube_blue": env.cubeB.root_body}
        elif self.task_name == "PickPlaceCan":
            can = env.objects[env.object_id]
            self._free_objects = {"can": env.obj_body_id[can.name]}
            obj_roots = {"can": can.root_body}
            self._bin_pos = np.array(env.target_bin_placements[env.object_to_id["can"]], dtype=np.float64)
        else:  # Door
            self._free_objects = {}
            obj_roots = {"door": env.door.root_body}
            self._door_body = env.object_body_ids["door"]
            self._latch_body = env.object_body_ids["latch"]
            self._handle_site = env.door_handle_site_id
            self._hinge_qadr = env.hinge_qpos_addr

        # Contact entities: every geom is labelled by the first named thing among its body's ancestors.
        body_label: dict[int, str] = {}
        labelled_roots = {m.body(robot.gripper.root_body).id: "gripper", m.body(robot.robot_model.root_body).id: "arm"}
        for name, root in obj_roots.items():
            labelled_roots[m.body(root).id] = name
        if self.task_name == "PickPlaceCan":
            # the other PickPlace objects are parked far outside the scene: their contacts are noise
            for obj in env.objects:
                if obj.name != env.objects[env.object_id].name:
                    labelled_roots[m.body(obj.root_body).id] = ""
        for b in range(m.nbody):
            a, label = b, None
            while True:
                if a in labelled_roots:
                    label = labelled_roots[a]
                    break
                if a == 0 or m.body_parentid[a] == 0:
                    break
                a = m.body_parentid[a]
            if label is None:
                label = "world" if a == 0 else m.body(a).name
            body_label[b] = label
        names = sorted(set(body_label.values()) - {""})
        self._entity_names = names
        index = {n: i for i, n in enumerate(names)}
        index[""] = -1  # ignored
        self._geom_entity = np.array([index[body_label[int(m.geom_bodyid[g])]] for g in range(m.ngeom)], dtype=np.int64)

    def _build_layout(self) -> None:
        fields = list(ROBOT_FIELDS)
        for name in self._free_objects:
            fields += free_object_fields(name)
        if self.task_name == "PickPlaceCan":
            fields.append(("bin_pos", 3))
        elif self.task_name == "Door":
            fields += [("door_handle_pos", 3), ("door_hinge", 1)]
        self.obs_layout, self.obs_dim = build_layout(fields)

    # ------------------------------------------------------------------ state access
    @property
    def robosuite_env(self):
        """The wrapped robosuite environment (for inspection; stepping it directly bypasses this wrapper)."""
        return self._env

    @property
    def _data(self):
        return self._env.sim.data._data

    def eef_pos(self) -> np.ndarray:
        """Grip-site position, world frame, metres."""
        return self._data.site_xpos[self._eef_site].copy()

    def _eef_quat(self) -> np.ndarray:
        """Hand orientation, wxyz (MuJoCo's order; robosuite's ``robot0_eef_quat`` is the same in xyzw)."""
        return self._data.xquat[self._hand_body].copy()

    def gripper_qpos(self) -> np.ndarray:
        return self._data.qpos[self._finger_qadr] * self._finger_sign

    def _object_poses(self) -> dict[str, np.ndarray]:
        d = self._data
        poses = {name: np.concatenate([d.xpos[b], d.xquat[b]]) for name, b in self._free_objects.items()}
        if self.task_name == "PickPlaceCan":
            poses["bin"] = np.concatenate([self._bin_pos, [1.0, 0.0, 0.0, 0.0]])
        elif self.task_name == "Door":
            poses["door"] = np.concatenate([d.xpos[self._door_body], d.xquat[self._door_body]])
            poses["door_handle"] = np.concatenate([d.xpos[self._latch_body], d.xquat[self._latch_body]])
        return poses

    def contacts(self) -> list[tuple[str, str]]:
        """Pairs of distinct entities in contact, each pair sorted by name, the list sorted."""
        d = self._data
        n = d.ncon
        if n == 0:
            return []
        e1 = self._geom_entity[d.contact.geom1[:n]]
        e2 = self._geom_entity[d.contact.geom2[:n]]
        pairs = set()
        for a, b in zip(e1.tolist(), e2.tolist(), strict=True):
            if a != b and a >= 0 and b >= 0:
                na, nb = self._entity_names[a], self._entity_names[b]
                pairs.add((na, nb) if na < nb else (nb, na))
        return sorted(pairs)

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        with _GlobalNumpySeed(int(self.np_random.integers(2**32))):
            self._env.reset()
        # robosuite keeps the gripper's integrated command across soft resets; start every episode the same.
        # (As robosuite constructs it: zeros = finger targets at mid-stroke, where its reset puts the fingers.)
        self._gripper.current_action = np.zeros(self._gripper.dof)
        self._elapsed = 0
        self._needs_reset = False
        return self._observation(), self._info()

    def step(self, action):
        if self._needs_reset:
            raise RuntimeError("call reset() before step()")
        a = self._check_action(action)
        if self.gripper_mode == "position":
            # Position semantics: PandaGripper adds speed*sign(cmd) to current_action every substep, so with
            # cmd = 0 the finger targets stay at current_action = [-g, g] (-1 -> 4 cm open each, +1 -> closed).
            g = float(a[6])
            self._gripper.current_action = np.array([-g, g])
            a = a.copy()
            a[6] = 0.0
        _, robosuite_reward, _, _ = self._env.step(a)
        self._elapsed += 1
        success = bool(self._env._check_success())
        reward = float(robosuite_reward) if self.reward_type == "dense" else float(success)
        truncated = self._elapsed >= self.max_episode_steps
        return self._observation(), reward, False, truncated, self._info(success)

    def _check_action(self, action) -> np.ndarray:
        a = np.asarray(action, dtype=np.float64)
        if a.shape != (7,):
            raise ValueError(
                f"action has shape {a.shape}, expected (7,) for controller 'ee_delta' "
                "([dx, dy, dz, drx, dry, drz, gripper])"
            )
        if not np.all(np.isfinite(a)):
            bad = np.flatnonzero(~np.isfinite(a)).tolist()
            raise ValueError(f"action contains NaN or inf at indices {bad}: {a.tolist()}; actions must be finite")
        return np.clip(a, -1.0, 1.0)

    def _observation(self):
        d = self._data
        eef = d.site_xpos[self._eef_site]
        parts = [d.qpos[self._arm_qadr], d.qvel[self._arm_dadr], eef, self._eef_quat(), self.gripper_qpos()]
        for b in self._free_objects.values():
            parts += [d.xpos[b], d.xquat[b], eef - d.xpos[b]]
        if self.task_name == "PickPlaceCan":
            parts.append(self._bin_pos)
        elif self.task_name == "Door":
            parts += [d.site_xpos[self._handle_site], [d.qpos[self._hinge_qadr]]]
        state = np.concatenate(parts).astype(np.float32)
        if self.obs_mode == "state":
            return state
        return {"state": state, "image": self._render_camera(self.image_size, self.image_size)}

    def _info(self, success: bool | None = None) -> dict[str, Any]:
        if success is None:
            success = bool(self._env._check_success())
        return {
            "is_success": success,
            "object_poses": self._object_poses(),  # name -> (x, y, z, qw, qx, qy, qz), world frame
            "contacts": self.contacts(),
            "eef_pos": self.eef_pos(),
        }

    # ------------------------------------------------------------------ rendering
    def _render_camera(self, height: int, width: int) -> np.ndarray:
        frame = self._env.sim.render(width=width, height=height, camera_name=self.camera)
        return np.ascontiguousarray(frame[::-1])  # robosuite renders bottom-up (OpenGL convention)

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        return self._render_camera(*self.render_size)

    def close(self) -> None:
        env = getattr(self, "_env", None)
        if env is not None:
            env.close()
            self._env = None
