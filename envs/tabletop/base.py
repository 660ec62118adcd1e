"""The tabletop Gymnasium env: physics, controllers and observations shared by every task.

A task (``tasks.py``) says which objects exist, how they are randomised, when the task is solved and what
the dense reward is. This module owns everything else, so that every task has the same action semantics
and the same observation layout rules.

Controllers (``TabletopConfig.controller``):

* ``ee_delta`` (default, 7-d): ``[dx, dy, dz, drx, dry, drz, gripper]`` in [-1, 1]. The first three scale
  to a Cartesian displacement of the grip site of at most ``max_ee_step_m`` per control step, in the world
  frame; the next three to a world-frame rotation vector of at most ``max_ee_rot_rad``. A damped
  least-squares differential IK step (with a null-space pull towards the home posture) moves a persistent
  Cartesian target by the twist and turns the remaining pose error into joint position targets for the
  arm's position servos (so linearisation error does not accumulate as drift). IK rather than operational-space torque control:
  it needs no mass matrix per step and is what runs unchanged on a position-controlled real arm.
* ``joint_pos`` (8-d): joint position deltas of at most ``max_joint_step_rad`` plus gripper.
* ``joint_vel`` (8-d): joint velocity targets of at most ``max_joint_vel_rad_s`` (velocity servos) plus gripper.

Gripper: -1 fully open, +1 fully closed (robosuite's convention), linear in between.

Observation (``obs_mode="state"``): one flat float32 vector; ``env.obs_layout`` maps each named field to
its slice. Robot fields come first and are the same for every task::

    joint_pos (7, rad) | joint_vel (7, rad/s) | eef_pos (3, m, world) | eef_quat (4, wxyz, world)
    | gripper_qpos (2, m, each finger's opening)

then, per task object in the task's order: free objects ``<name>_pos (3)``, ``<name>_quat (4, wxyz)``,
``<name>_to_eef (3, eef_pos - object pos)``; regions ``<name>_pos (3)``; drawers ``<name>_opening (1, m)``
and ``<name>_handle_pos (3)``; tasks with a goal point ``goal_pos (3)``. With ``obs_mode="state+image"``
the observation is a dict ``{"state": <vector>, "image": uint8 (H, W, 3)}``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from ..layout import OBS_MODES, REWARD_TYPES, ROBOT_FIELDS, build_layout, tabletop_object_fields
from .scene import FINGER_MAX_OPENING, HOME_QPOS, JOINT_LIMITS, SceneSpec, build_scene_xml

CONTROLLERS = ("ee_delta", "joint_pos", "joint_vel")
_Q_LOW, _Q_HIGH = JOINT_LIMITS[:, 0].copy(), JOINT_LIMITS[:, 1].copy()
MAX_TARGET_LAG_M = 0.03
MAX_TARGET_LAG_RAD = 0.2


@dataclass
class TabletopConfig:
    """Settings common to every tabletop task (all SI units)."""

    controller: str = "ee_delta"
    control_freq: float = 20.0  # Hz
    physics_timestep: float = 0.002  # s; control_freq * physics_timestep must divide evenly
    reward_type: str = "dense"
    obs_mode: str = "state"
    image_size: int = 64  # square image observation, pixels
    camera: str = "front"  # camera for image observations and render()
    render_size: tuple[int, int] = (240, 320)  # (height, width) of render() frames
    max_episode_steps: int = 200
    terminate_on_success: bool = False
    max_ee_step_m: float = 0.05
    max_ee_rot_rad: float = 0.3
    max_joint_step_rad: float = 0.1
    max_joint_vel_rad_s: float = 1.5
    init_qpos_noise: float = 0.02  # rad, uniform noise on the home posture at reset

    def validate(self) -> None:
        if self.controller not in CONTROLLERS:
            raise ValueError(f"controller must be one of {CONTROLLERS}, got {self.controller!r}")
        if self.reward_type not in REWARD_TYPES:
            raise ValueError(f"reward_type must be one of {REWARD_TYPES}, got {self.reward_type!r}")
        if self.obs_mode not in OBS_MODES:
            raise ValueError(f"obs_mode must be one of {OBS_MODES}, got {self.obs_mode!r}")
        if self.control_freq <= 0 or self.physics_timestep <= 0:
            raise ValueError("control_freq and physics_timestep must be positive")
        n = 1.0 / (self.control_freq * self.physics_timestep)
        if abs(n - round(n)) > 1e-6 or round(n) < 1:
            raise ValueError(
                f"1 / (control_freq * physics_timestep) must be a positive integer (substeps per control step), "
                f"got {n:.4f} for control_freq={self.control_freq} and physics_timestep={self.physics_timestep}"
            )


def _finger_target(command: float) -> float:
    """Per-finger opening target (m) for a gripper command in [-1, 1] (-1 open, +1 closed)."""
    return FINGER_MAX_OPENING * (1.0 - command) / 2.0


class TabletopEnv(gym.Env):
    """Panda on a table; subclasses are tasks (see ``tasks.py``)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}
    action_space: gym.spaces.Box  # always a box: its shape is known

    def __init__(self, task: Any, config: TabletopConfig | None = None, render_mode: str | None = None, **overrides: Any):
        cfg = config or TabletopConfig()
        for key, value in overrides.items():
            if not hasattr(cfg, key):
                valid = ", ".join(sorted(TabletopConfig.__dataclass_fields__))
                raise TypeError(f"unknown tabletop env option {key!r}; valid options: {valid}")
            setattr(cfg, key, value)
        cfg.validate()
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.config = cfg
        self.task = task
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": int(round(cfg.control_freq))}
        spec = SceneSpec(
            objects=tuple(task.objects),
            timestep=cfg.physics_timestep,
            joint_actuator="velocity" if cfg.controller == "joint_vel" else "position",
            image_size=max(cfg.image_size, *cfg.render_size),
        )
        self.model_xml = build_scene_xml(spec)  # the MJCF, kept for tools that store it (robomimic's model_file)
        self.model = mujoco.MjModel.from_xml_string(self.model_xml)
        self.data = mujoco.MjData(self.model)
        self.n_substeps = int(round(1.0 / (cfg.control_freq * cfg.physics_timestep)))
        self._ids()
        self._build_layout()
        act_dim = 7 if cfg.controller == "ee_delta" else 8
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(act_dim,), dtype=np.float32)
        state_space = gym.spaces.Box(-np.inf, np.inf, shape=(self.obs_dim,), dtype=np.float32)
        if cfg.obs_mode == "state":
            self.observation_space = state_space
        else:
            img = gym.spaces.Box(0, 255, shape=(cfg.image_size, cfg.image_size, 3), dtype=np.uint8)
            self.observation_space = gym.spaces.Dict({"state": state_space, "image": img})
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        self._elapsed = 0
        self._jacp = np.zeros((3, self.model.nv))
        self._jacr = np.zeros((3, self.model.nv))

    # ------------------------------------------------------------------ setup
    def _ids(self) -> None:
        m = self.model
        self.grip_site = m.site("grip_site").id
        self.arm_qadr = np.array([m.jnt_qposadr[m.joint(f"joint{i}").id] for i in range(1, 8)])
        self.arm_dadr = np.array([m.jnt_dofadr[m.joint(f"joint{i}").id] for i in range(1, 8)])
        # The arm's joints come first in the model, so its qpos/dof indices are a slice (cheaper than fancy indexing).
        assert list(self.arm_qadr) == list(range(7)) and list(self.arm_dadr) == list(range(7))
        self._jac = np.zeros((6, m.nv))
        self.finger_qadr = np.array([m.jnt_qposadr[m.joint(n).id] for n in ("finger_joint1", "finger_joint2")])
        self.gripper_act = m.actuator("gripper").id
        # Map every geom to a named entity so contacts are reported as entity pairs ("gripper", "cube").
        names = ["table", "arm", "gripper"] + [o.name for o in self.task.objects]
        self.entity_names = names
        ent = np.full(m.ngeom, -1, dtype=np.int64)
        ent[m.geom("table").id] = 0
        gripper_bodies = {m.body(n).id for n in ("hand", "left_finger", "right_finger")}
        arm_bodies = {m.body(f"link{i}").id for i in range(8)}
        object_bodies: dict[int, int] = {}
        for k, obj in enumerate(self.task.objects):
            root = m.body(obj.name).id
            for b in range(m.nbody):
                # a body belongs to the object if the object's body is an ancestor of it
                a = b
                while a > 0 and a != root:
                    a = m.body_parentid[a]
                if a == root:
                    object_bodies[b] = 3 + k
        for g in range(m.ngeom):
            b = m.geom_bodyid[g]
            if b in gripper_bodies:
                ent[g] = 2
            elif b in arm_bodies:
                ent[g] = 1
            elif b in object_bodies:
                ent[g] = object_bodies[b]
        self.geom_entity = ent.tolist()
        self._touches: list[tuple[int, int]] = []
        self.pad_geoms = (m.geom("left_pad").id, m.geom("right_pad").id)
        self._body_ids = {m.body(i).name: i for i in range(m.nbody)}
        # The task's objects without a joint (regions, cabinets, markers): tasks place them per episode by moving
        # the body in the model, so their positions belong to the replay state (sim_state).
        self._static_body_ids = [b for b in (m.body(o.name).id for o in self.task.objects) if m.body_jntnum[b] == 0]
        self._grasp_cache: dict[str, bool] = {}

    def _build_layout(self) -> None:
        fields = [*ROBOT_FIELDS, *tabletop_object_fields(self.task.objects, getattr(self.task, "has_goal_point", False))]
        self.obs_layout, self.obs_dim = build_layout(fields)

    # ------------------------------------------------------------------ state access
    @property
    def task_name(self) -> str:
        """Short task name (e.g. "push"); selects the scripted expert."""
        return self.task.name

    def eef_pos(self) -> np.ndarray:
        """Grip-site (between the fingertips) position, world frame, metres."""
        return self.data.site_xpos[self.grip_site].copy()

    def eef_xmat(self) -> np.ndarray:
        return self.data.site_xmat[self.grip_site].reshape(3, 3).copy()

    def body_pos(self, name: str) -> np.ndarray:
        return self.data.xpos[self._body_ids[name]].copy()

    def body_quat(self, name: str) -> np.ndarray:
        """Body orientation as a wxyz quaternion (MuJoCo's order), world frame."""
        return self.data.xquat[self._body_ids[name]].copy()

    def gripper_opening(self) -> float:
        """Distance between the finger pads' inner faces, metres."""
        return float(self.data.qpos[self.finger_qadr].sum())

    def joint_pos(self, name: str) -> float:
        m = self.model
        return float(self.data.qpos[m.jnt_qposadr[m.joint(name).id]])

    def contacts(self) -> set[tuple[str, str]]:
        """Pairs of entities in contact, each pair sorted by name.

        Also keeps the raw (geom, entity) pairs of this step for :meth:`is_grasped`; plain Python lists
        beat numpy here because a tabletop scene has only a handful of contacts.
        """
        n = self.data.ncon
        pairs: set[tuple[str, str]] = set()
        touches: list[tuple[int, int]] = []  # (geom, entity it touches) for both sides of each contact
        if n:
            g1 = self.data.contact.geom1[:n].tolist()
            g2 = self.data.contact.geom2[:n].tolist()
            ent = self.geom_entity
            names = self.entity_names
            for a, b in zip(g1, g2, strict=True):
                ea, eb = ent[a], ent[b]
                if ea < 0 or eb < 0 or ea == eb:
                    continue
                touches.append((a, eb))
                touches.append((b, ea))
                na, nb = names[ea], names[eb]
                pairs.add((na, nb) if na < nb else (nb, na))
        self._touches = touches
        return pairs

    def in_contact(self, a: str, b: str) -> bool:
        return ((a, b) if a < b else (b, a)) in self._contacts

    def is_grasped(self, obj: str) -> bool:
        """Both finger pads touch ``obj``: the usual grasp test (robosuite's ``_check_grasp``).

        Memoised until the next physics step: success, reward and info all ask.
        """
        cached = self._grasp_cache.get(obj)
        if cached is None:
            cached = self._grasp_cache[obj] = self._pads_touch(obj)
        return cached

    def _pads_touch(self, obj: str) -> bool:
        target = self.entity_names.index(obj)
        pads = {geom for geom, other in self._touches if other == target and geom in self.pad_geoms}
        return len(pads) == 2

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        noise = self.np_random.uniform(-1.0, 1.0, size=7) * self.config.init_qpos_noise
        q0 = np.clip(HOME_QPOS + noise, JOINT_LIMITS[:, 0], JOINT_LIMITS[:, 1])
        d.qpos[self.arm_qadr] = q0
        d.qpos[self.finger_qadr] = FINGER_MAX_OPENING
        if self.config.controller == "joint_vel":
            d.ctrl[:7] = 0.0
        else:
            d.ctrl[:7] = q0
        d.ctrl[self.gripper_act] = FINGER_MAX_OPENING
        self.task.randomize(self, self.np_random)
        mujoco.mj_forward(m, d)
        # Let objects settle onto the table before the first observation.
        mujoco.mj_step(m, d, nstep=10)
        mujoco.mj_forward(m, d)
        self._elapsed = 0
        return self._state_changed(), self._info()

    def step(self, action):
        action = self._check_action(action)
        self._apply_action(action)
        mujoco.mj_step(self.model, self.data, nstep=self.n_substeps)
        # Bring positions and the Jacobian's quantities up to date with the state after the last substep.
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_comPos(self.model, self.data)
        self._grasp_cache.clear()
        self._elapsed += 1
        self._contacts = self.contacts()
        success = bool(self.task.success(self))
        if self.config.reward_type == "sparse":
            reward = float(success)
        else:
            reward = float(self.task.dense_reward(self))
        terminated = success and self.config.terminate_on_success
        truncated = self._elapsed >= self.config.max_episode_steps
        return self._observation(), reward, terminated, truncated, self._info(success)

    def _check_action(self, action) -> np.ndarray:
        a = np.array(action, dtype=np.float64)  # a copy: clipped in place below, never the caller's array
        expected = self.action_space.shape
        if a.shape != expected:
            raise ValueError(
                f"action has shape {a.shape}, expected {expected} for controller {self.config.controller!r} "
                f"({'[dx, dy, dz, drx, dry, drz, gripper]' if expected[0] == 7 else '[7 joint values, gripper]'})"
            )
        if not np.isfinite(a).all():
            bad = np.flatnonzero(~np.isfinite(a)).tolist()
            raise ValueError(f"action contains NaN or inf at indices {bad}: {a.tolist()}; actions must be finite")
        np.maximum(a, -1.0, out=a)  # np.clip's Python wrapper costs more than the clipping on numpy 1.x
        np.minimum(a, 1.0, out=a)
        return a

    def _apply_action(self, a: np.ndarray) -> None:
        cfg, d = self.config, self.data
        q = d.qpos[:7]
        if cfg.controller == "ee_delta":
            dq = self._ik_step(a[:3] * cfg.max_ee_step_m, a[3:6] * cfg.max_ee_rot_rad)
            d.ctrl[:7] = np.minimum(np.maximum(q + dq, _Q_LOW), _Q_HIGH)
        elif cfg.controller == "joint_pos":
            d.ctrl[:7] = np.clip(q + a[:7] * cfg.max_joint_step_rad, JOINT_LIMITS[:, 0], JOINT_LIMITS[:, 1])
        else:
            d.ctrl[:7] = a[:7] * cfg.max_joint_vel_rad_s
        d.ctrl[self.gripper_act] = _finger_target(a[-1])

    def restore_state(self, qpos: np.ndarray, qvel: np.ndarray, gripper_command: float | None = None,
                      ee_target: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Put the simulation in a recorded state (e.g. a play file's ``states`` row) and return its observation.

        For replays that start mid-episode: call ``reset`` first (it sets the scene's task parameters), then this.
        Servo targets are set to the restored joint positions (the arm holds still under a zero action) and the
        Cartesian target to the restored pose, or to ``ee_target`` = (position (3,), rotation matrix (3, 3) or
        (9,)), the ``ee_delta`` controller's persistent target, which the next actions move. ``gripper_command``
        (the last action's gripper value in [-1, 1]) sets the finger target, else the fingers hold their
        restored opening. The episode's step count is kept. :meth:`set_sim_state` restores everything at once.
        """
        m, d = self.model, self.data
        qpos, qvel = np.asarray(qpos, np.float64).reshape(-1), np.asarray(qvel, np.float64).reshape(-1)
        finite = np.isfinite(qpos).all() and np.isfinite(qvel).all()
        if qpos.shape != (m.nq,) or qvel.shape != (m.nv,) or not finite:
            raise ValueError(f"restore_state needs finite qpos ({m.nq},) and qvel ({m.nv},), got {qpos.shape} and "
                             f"{qvel.shape}")
        target = None
        if ee_target is not None:
            pos, rot = (np.asarray(x, np.float64) for x in ee_target)
            if pos.shape != (3,) or rot.size != 9 or not (np.isfinite(pos).all() and np.isfinite(rot).all()):
                raise ValueError(f"ee_target must be a finite (position (3,), rotation (3, 3)), got shapes "
                                 f"{pos.shape} and {rot.shape}")
            target = (pos.copy(), rot.reshape(3, 3).copy())
        d.qpos[:], d.qvel[:] = qpos, qvel
        d.ctrl[:7] = 0.0 if self.config.controller == "joint_vel" else d.qpos[self.arm_qadr]
        d.ctrl[self.gripper_act] = (d.qpos[self.finger_qadr].mean() if gripper_command is None
                                    else _finger_target(float(np.clip(gripper_command, -1.0, 1.0))))
        mujoco.mj_forward(m, d)
        obs = self._state_changed()
        if target is not None:
            self._target_pos, self._target_rot = target
        return obs

    # The rest of MuJoCo's integration state besides qpos and qvel: time, actuator activations, the solver's
    # warm start, controls, applied forces, mocap poses, user data (mj_getState's bit mask).
    _MJ_EXTRA = int(mujoco.mjtState.mjSTATE_INTEGRATION) & ~int(mujoco.mjtState.mjSTATE_QPOS | mujoco.mjtState.mjSTATE_QVEL)

    @property
    def state_layout(self) -> dict[str, list[int]]:
        """Named ``[start, stop)`` slices of :meth:`sim_state`'s vector (written to datasets' ``env_args``)."""
        m = self.model
        widths = [("qpos", m.nq), ("qvel", m.nv), ("mj_extra", mujoco.mj_stateSize(m, self._MJ_EXTRA)),
                  ("ee_target_pos", 3), ("ee_target_rot", 9), ("static_body_pos", 3 * len(self._static_body_ids))]
        if getattr(self.task, "has_goal_point", False):
            widths.append(("goal_point", 3))
        widths.append(("elapsed_steps", 1))
        layout: dict[str, list[int]] = {}
        start = 0
        for name, width in widths:
            layout[name] = [start, start + int(width)]
            start += int(width)
        return layout

    def sim_state(self) -> np.ndarray:
        """Everything the next steps depend on, as one float64 vector (layout: :attr:`state_layout`).

        qpos and qvel first (so ``state[:nq]`` / ``state[nq:nq + nv]`` still work), then MuJoCo's other
        integration state (the warm start included, so a replay is bit-exact), the ``ee_delta`` controller's
        persistent Cartesian target, the positions of the static objects the task placed, the goal point and
        the step count. :meth:`set_sim_state` puts it back.
        """
        m, d = self.model, self.data
        extra = np.empty(mujoco.mj_stateSize(m, self._MJ_EXTRA))
        mujoco.mj_getState(m, d, extra, self._MJ_EXTRA)
        parts = [d.qpos, d.qvel, extra, self._target_pos, self._target_rot.reshape(-1),
                 m.body_pos[self._static_body_ids].reshape(-1)]
        if getattr(self.task, "has_goal_point", False):
            parts.append(np.asarray(self.task.goal_point, np.float64))
        parts.append([float(self._elapsed)])
        return np.concatenate(parts).astype(np.float64)

    def set_sim_state(self, state: np.ndarray) -> np.ndarray:
        """Restore a :meth:`sim_state` vector (e.g. a dataset's ``states`` row) and return the observation.

        No ``reset`` with the episode's seed is needed: the scene's placement is in the vector. The same
        actions from here give the recorded observations exactly.
        """
        m, d = self.model, self.data
        layout = self.state_layout
        state = np.asarray(state, np.float64).reshape(-1)
        size = layout["elapsed_steps"][1]
        if state.shape != (size,) or not np.isfinite(state).all():
            raise ValueError(f"set_sim_state needs a finite state vector of length {size} (layout: "
                             f"{', '.join(layout)}), got shape {state.shape}")
        part = {k: state[a:b] for k, (a, b) in layout.items()}
        d.qpos[:], d.qvel[:] = part["qpos"], part["qvel"]
        mujoco.mj_setState(m, d, part["mj_extra"], self._MJ_EXTRA)
        m.body_pos[self._static_body_ids] = part["static_body_pos"].reshape(-1, 3)
        if "goal_point" in part:
            self.task.goal_point = part["goal_point"].copy()
        mujoco.mj_forward(m, d)
        obs = self._state_changed()
        self._target_pos = part["ee_target_pos"].copy()
        self._target_rot = part["ee_target_rot"].reshape(3, 3).copy()
        self._elapsed = int(part["elapsed_steps"][0])
        return obs

    def _state_changed(self) -> np.ndarray:
        """After the simulation state was set from outside a step (reset, restore): drop the per-state caches,
        put the Cartesian target on the measured pose, and return the observation."""
        self._grasp_cache.clear()
        self._contacts = self.contacts()
        self._reset_ee_target()
        return self._observation()

    def _reset_ee_target(self) -> None:
        self._target_pos = self.eef_pos()
        self._target_rot = self.eef_xmat()

    def _ik_step(self, dpos: np.ndarray, drot: np.ndarray, damping: float = 0.05, nullspace_gain: float = 0.1):
        """Joint displacement towards the updated Cartesian target, by damped least squares J^T (J J^T + λ²I)^-1.

        The target pose persists between steps (each action moves it), so the linearisation error and
        servo lag of one step are corrected in the next instead of accumulating as drift. It never runs
        more than ``MAX_TARGET_LAG_M`` / ``MAX_TARGET_LAG_RAD`` ahead of the measured pose, so pushing
        against the table cannot wind it up.
        """
        d = self.data
        eef = d.site_xpos[self.grip_site]
        lag = np.minimum(np.maximum(self._target_pos - eef, -MAX_TARGET_LAG_M), MAX_TARGET_LAG_M)
        self._target_pos = eef + lag + dpos
        twist = np.empty(6)
        twist[:3] = self._target_pos - eef
        # Orientation in quaternions, the same maths as with matrices: err = R_t R^T, clamped to
        # MAX_TARGET_LAG_RAD, then pre-multiplied by R(drot); the twist's rotation is rotvec(err).
        q_cur, q_err, q_tmp = np.empty(4), np.empty(4), np.empty(4)
        mujoco.mju_mat2Quat(q_cur, d.site_xmat[self.grip_site])
        mujoco.mju_mat2Quat(q_tmp, self._target_rot.reshape(-1))
        mujoco.mju_negQuat(q_err, q_cur)
        mujoco.mju_mulQuat(q_err, q_tmp, q_err)
        rot_err = twist[3:]
        mujoco.mju_quat2Vel(rot_err, q_err, 1.0)
        changed = False
        lag_angle = mujoco.mju_norm3(rot_err)
        if lag_angle > MAX_TARGET_LAG_RAD:
            rot_err *= MAX_TARGET_LAG_RAD / lag_angle
            mujoco.mju_axisAngle2Quat(q_err, rot_err / MAX_TARGET_LAG_RAD, MAX_TARGET_LAG_RAD)
            changed = True
        if drot.any():
            angle = mujoco.mju_norm3(drot)
            if angle > 1e-12:
                mujoco.mju_axisAngle2Quat(q_tmp, drot / angle, angle)
                mujoco.mju_mulQuat(q_err, q_tmp, q_err)
            mujoco.mju_quat2Vel(rot_err, q_err, 1.0)
            changed = True
        if changed:
            mujoco.mju_mulQuat(q_tmp, q_err, q_cur)
            target_rot = np.empty(9)
            mujoco.mju_quat2Mat(target_rot, q_tmp)
            self._target_rot = target_rot.reshape(3, 3)
        mujoco.mj_jacSite(self.model, d, self._jac[:3], self._jac[3:], self.grip_site)
        jac = self._jac[:, :7]
        # Damped least squares with the null-space pull v towards the home posture (keeps the redundant
        # joint from drifting to a limit), as one 6x6 Cholesky solve with MuJoCo's routines:
        #   J^T A^-1 t + (I - J^T A^-1 J) v  ==  v + J^T A^-1 (t - J v),   A = J J^T + λ²I.
        v = nullspace_gain * (HOME_QPOS - d.qpos[:7])
        jjt = jac @ jac.T
        jjt.flat[::7] += damping**2
        mujoco.mju_cholFactor(jjt, 0.0)
        x = np.empty(6)
        mujoco.mju_cholSolve(x, jjt, twist - jac @ v)
        return v + jac.T @ x

    def _observation(self):
        d = self.data
        parts = [
            d.qpos[self.arm_qadr],
            d.qvel[self.arm_dadr],
            d.site_xpos[self.grip_site],
            self._eef_quat(),
            d.qpos[self.finger_qadr],
        ]
        eef = d.site_xpos[self.grip_site]
        for obj in self.task.objects:
            bid = self._body_ids[obj.name]
            if obj.kind in ("cube", "cylinder"):
                pos = d.xpos[bid]
                parts += [pos, d.xquat[bid], eef - pos]
            elif obj.kind == "region":
                parts.append(d.xpos[bid])
            elif obj.kind == "drawer":
                parts.append([self.joint_pos(f"{obj.name}_slide")])
                parts.append(d.site_xpos[self.model.site(f"{obj.name}_handle_site").id])
        if getattr(self.task, "has_goal_point", False):
            parts.append(self.task.goal_point)
        state = np.concatenate(parts).astype(np.float32)
        if self.config.obs_mode == "state":
            return state
        return {"state": state, "image": self._render_camera(self.config.image_size, self.config.image_size)}

    def _eef_quat(self) -> np.ndarray:
        quat = np.empty(4)
        mujoco.mju_mat2Quat(quat, self.data.site_xmat[self.grip_site])
        return quat

    def _info(self, success: bool | None = None) -> dict[str, Any]:
        if success is None:
            success = bool(self.task.success(self))
        poses = {}
        for obj in self.task.objects:
            names = [obj.name, f"{obj.name}_drawer"] if obj.kind == "drawer" else [obj.name]
            for name in names:
                poses[name] = np.concatenate([self.body_pos(name), self.body_quat(name)])
        info: dict[str, Any] = {
            "is_success": success,
            "object_poses": poses,  # name -> (x, y, z, qw, qx, qy, qz), world frame
            "contacts": sorted(self._contacts),
            "eef_pos": self.eef_pos(),
        }
        info.update(self.task.extra_info(self))
        return info

    # ------------------------------------------------------------------ rendering
    def _render_camera(self, height: int, width: int) -> np.ndarray:
        key = (height, width)
        renderer = self._renderers.get(key)
        if renderer is None:
            if "MUJOCO_GL" not in os.environ and "DISPLAY" not in os.environ:
                raise RuntimeError(
                    "rendering needs an OpenGL backend: set MUJOCO_GL=egl (GPU) or MUJOCO_GL=osmesa (CPU, "
                    "apt-get install libosmesa6) before importing skill_rl.envs"
                )
            renderer = mujoco.Renderer(self.model, height, width)
            self._renderers[key] = renderer
        renderer.update_scene(self.data, camera=self.config.camera)
        return renderer.render().copy()

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        return self._render_camera(*self.config.render_size)

    def close(self) -> None:
        for r in self._renderers.values():
            r.close()
        self._renderers.clear()
