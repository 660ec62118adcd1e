"""pybullet twins of the MuJoCo tabletop Push and PickPlace envs (sim-to-sim checks).

Same world frame as ``skill_rl.envs.tabletop`` (table top is the plane z = 0, x forward, y left, z up, the
Panda's base at ``ROBOT_BASE``), same task placement from the seed (``Task.sample``), same success
predicates and dense rewards (the task objects of ``tasks.py`` are reused as they are: this env offers the
accessors they call, ``body_pos``, ``eef_pos``, ``is_grasped``), same observation layout, same action
semantics and the same controllers. So a policy or scripted expert written against the MuJoCo env's
``obs_layout`` and ``config`` runs here unchanged; see the module docstring of ``tabletop/base.py`` for
the conventions.

What differs (by construction, it is another simulator): the Panda is ``franka_panda/panda.urdf`` from
``pybullet_data`` (convex-hull meshes and URDF inertias; its kinematics equal the MuJoCo model's, and the
fingers' inner faces and tips lie within ~1 mm of the MuJoCo pads'),
pybullet's velocity-based position motors instead of MuJoCo's PD servos with gravity compensation, and
the default physics step is 1/240 s (``PybulletConfig.physics_timestep``).

pybullet is imported when an env is constructed, never at import time (``import skill_rl.envs`` stays
cheap); it ships with the ``sim`` extra: ``pip install 'skill-rl[sim]'``. Every env owns a private
``DIRECT`` physics client and passes its id on every call, so several envs in one process are independent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from .layout import ROBOT_FIELDS, build_layout, tabletop_object_fields
from .tabletop.base import MAX_TARGET_LAG_M, MAX_TARGET_LAG_RAD, TabletopConfig
from .tabletop.scene import FINGER_MAX_OPENING, HOME_QPOS, JOINT_LIMITS, ROBOT_BASE, TABLE_HALF_SIZE
from .tabletop.tasks import PickPlace, Push

# panda.urdf (pybullet_data): joints 0..6 arm, 7 link8 (fixed), 8 hand (fixed), 9/10 fingers, 11 grasp target.
ARM_JOINTS = tuple(range(7))
HAND_LINK = 8
FINGER_JOINTS = (9, 10)
GRIPPER_LINKS = frozenset({8, 9, 10, 11})
# Grip point between the fingertips in the hand frame: the MuJoCo scene's grip_site. The URDF's hand frame
# is oriented like MuJoCo's hand body (at home: x -> world x, y -> world -y, z -> world -z), so no offset
# rotation is needed.
GRIP_OFFSET = np.array([0.0, 0.0, 0.1034])
ARM_FORCES = np.array([87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0])  # N m, Franka's torque limits
FINGER_FORCE = 20.0  # N per finger (URDF effort; the MuJoCo gripper's 40 N on the finger average)
ARM_MAX_VEL = 2.175  # rad/s, velocity servo limit (as the MuJoCo joint_vel ctrlrange)
# pybullet's POSITION_CONTROL motor drives the joint at velocity positionGain * error / dt, so a fixed gain
# tracks faster the finer the step; a gain of dt / SERVO_TAU gives a first-order response with time
# constant SERVO_TAU whatever ``physics_timestep`` is (0.1 at 1/240 s, pybullet's default gain).
SERVO_TAU = 1.0 / 24.0  # s
# Friction (pybullet multiplies the two bodies' coefficients, MuJoCo takes the larger one): chosen so the
# combined values equal MuJoCo's: finger-cube 1.5, cube-table 1.0.
FINGER_FRICTION = 1.5
CUBE_FRICTION = 1.0
TABLE_FRICTION = 1.0
CONTACT_TOLERANCE = 5e-4  # m; pybullet keeps manifold points up to ~2 cm apart, MuJoCo reports touching only
RGBA = {"red": (0.85, 0.15, 0.15, 1), "region": (0.2, 0.8, 0.3, 0.35), "wood": (0.55, 0.4, 0.25, 1),
        "green": (0.15, 0.7, 0.2, 1), "blue": (0.15, 0.3, 0.85, 1), "yellow": (0.9, 0.8, 0.1, 1)}
# The MuJoCo scene's cameras (scene.py): position, xyaxes (camera x and y axes in the world), vertical fov.
CAMERAS = {
    "front": ((0.62, 0.0, 0.52), (0, 1, 0, -0.5, 0, 0.866), 50.0),
    "overhead": ((0.0, 0.0, 1.2), (1, 0, 0, 0, 1, 0), 45.0),
    "side": ((0.0, -1.0, 0.5), (1, 0, 0, 0, 0.45, 0.9), 45.0),
}
SIM_EXTRA_HINT = "pip install 'skill-rl[sim]'"


@dataclass
class PybulletConfig(TabletopConfig):
    """``TabletopConfig`` (same names, meanings, SI units) with pybullet's usual 1/240 s physics step."""

    physics_timestep: float = 1.0 / 240.0  # s; control_freq * physics_timestep divides 1
    solver_iterations: int = 50

    def validate(self) -> None:
        super().validate()
        if self.camera not in CAMERAS:
            raise ValueError(f"camera must be one of {tuple(CAMERAS)}, got {self.camera!r}")


# ---------------------------------------------------------------------- rotations (numpy, no simulator)
def quat_xyzw_to_mat(q) -> np.ndarray:
    x, y, z, w = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def mat_to_quat_wxyz(r: np.ndarray) -> np.ndarray:
    """Unit wxyz quaternion of a rotation matrix, with MuJoCo's sign convention (``mju_mat2Quat``).

    Both envs thus report the same four numbers for the same orientation, not just the same rotation.
    """
    q = np.empty(4)
    tr = r[0, 0] + r[1, 1] + r[2, 2]
    if tr > 0:
        q[0] = 0.5 * np.sqrt(1 + tr)
        q[1] = 0.25 * (r[2, 1] - r[1, 2]) / q[0]
        q[2] = 0.25 * (r[0, 2] - r[2, 0]) / q[0]
        q[3] = 0.25 * (r[1, 0] - r[0, 1]) / q[0]
    elif r[0, 0] > r[1, 1] and r[0, 0] > r[2, 2]:
        q[1] = 0.5 * np.sqrt(1 + r[0, 0] - r[1, 1] - r[2, 2])
        q[0] = 0.25 * (r[2, 1] - r[1, 2]) / q[1]
        q[2] = 0.25 * (r[0, 1] + r[1, 0]) / q[1]
        q[3] = 0.25 * (r[0, 2] + r[2, 0]) / q[1]
    elif r[1, 1] > r[2, 2]:
        q[2] = 0.5 * np.sqrt(1 - r[0, 0] + r[1, 1] - r[2, 2])
        q[0] = 0.25 * (r[0, 2] - r[2, 0]) / q[2]
        q[1] = 0.25 * (r[0, 1] + r[1, 0]) / q[2]
        q[3] = 0.25 * (r[1, 2] + r[2, 1]) / q[2]
    else:
        q[3] = 0.5 * np.sqrt(1 - r[0, 0] - r[1, 1] + r[2, 2])
        q[0] = 0.25 * (r[1, 0] - r[0, 1]) / q[3]
        q[1] = 0.25 * (r[0, 2] + r[2, 0]) / q[3]
        q[2] = 0.25 * (r[1, 2] + r[2, 1]) / q[3]
    return q / np.linalg.norm(q)


def rotvec(r: np.ndarray) -> np.ndarray:
    """Rotation vector (axis * angle, angle in [0, pi]) of a rotation matrix."""
    q = mat_to_quat_wxyz(r)
    if q[0] < 0:
        q = -q
    s = np.linalg.norm(q[1:])
    if s < 1e-12:
        return np.zeros(3)
    return q[1:] / s * (2.0 * np.arctan2(s, q[0]))


def rotmat(v: np.ndarray) -> np.ndarray:
    """Rotation matrix of a rotation vector (Rodrigues)."""
    angle = float(np.linalg.norm(v))
    if angle < 1e-12:
        return np.eye(3)
    k = np.asarray(v) / angle
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx


def _import_pybullet():
    try:
        import pybullet
        import pybullet_data
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError(f"the pybullet twin envs need pybullet: {SIM_EXTRA_HINT} ({e})") from e
    return pybullet, pybullet_data


class _Client:
    """pybullet's functions bound to one physics client: ``c.stepSimulation()`` -> ``p.stepSimulation(physicsClientId=id)``."""

    def __init__(self, pb, client_id: int):
        self._pb = pb
        self.id = client_id

    def __getattr__(self, name: str):
        attr = getattr(self._pb, name)
        if not callable(attr):
            return attr
        cid = self.id

        def call(*args, **kwargs):
            return attr(*args, physicsClientId=cid, **kwargs)

        setattr(self, name, call)
        return call


class PybulletTabletopEnv(gym.Env):
    """Panda on a table in pybullet; the task (``Push`` or ``PickPlace`` from ``tabletop/tasks.py``) is reused."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}
    action_space: gym.spaces.Box  # always a box: its shape is known

    def __init__(self, task: Push | PickPlace, config: PybulletConfig | None = None, render_mode: str | None = None,
                 **overrides: Any):
        cfg = config or PybulletConfig()
        for key, value in overrides.items():
            if not hasattr(cfg, key):
                valid = ", ".join(sorted(PybulletConfig.__dataclass_fields__))
                raise TypeError(f"unknown pybullet twin env option {key!r}; valid options: {valid}")
            setattr(cfg, key, value)
        cfg.validate()
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        for obj in task.objects:
            if obj.kind not in ("cube", "region"):
                raise ValueError(f"the pybullet twin supports cubes and regions, not {obj.kind!r} ({obj.name})")
        self.config = cfg
        self.task = task
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": int(round(cfg.control_freq))}
        self.n_substeps = int(round(1.0 / (cfg.control_freq * cfg.physics_timestep)))
        self._servo_gain = min(1.0, cfg.physics_timestep / SERVO_TAU)
        self._build_layout()
        act_dim = 7 if cfg.controller == "ee_delta" else 8
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(act_dim,), dtype=np.float32)
        state_space = gym.spaces.Box(-np.inf, np.inf, shape=(self.obs_dim,), dtype=np.float32)
        if cfg.obs_mode == "state":
            self.observation_space = state_space
        else:
            img = gym.spaces.Box(0, 255, shape=(cfg.image_size, cfg.image_size, 3), dtype=np.uint8)
            self.observation_space = gym.spaces.Dict({"state": state_space, "image": img})

        pb, pb_data = _import_pybullet()
        self._pb = pb
        self._client: _Client | None = _Client(pb, pb.connect(pb.DIRECT))
        self._build_world(pb_data.getDataPath())
        self._elapsed = 0
        self._contacts: set[tuple[str, str]] = set()
        self._grasp_links: dict[str, set[int]] = {}

    # ------------------------------------------------------------------ setup
    @property
    def _c(self) -> _Client:
        """The physics client; a closed env has none."""
        if self._client is None:
            raise RuntimeError("this PybulletTabletopEnv is closed")
        return self._client

    @property
    def task_name(self) -> str:
        return self.task.name

    def _build_layout(self) -> None:
        # The MuJoCo tabletop's rules, so the two layouts are equal by construction.
        self.obs_layout, self.obs_dim = build_layout([*ROBOT_FIELDS, *tabletop_object_fields(self.task.objects)])

    def _build_world(self, data_path: str) -> None:
        c, cfg = self._c, self.config
        c.resetSimulation()
        c.setGravity(0, 0, -9.81)
        c.setPhysicsEngineParameter(
            fixedTimeStep=cfg.physics_timestep, numSubSteps=0, numSolverIterations=cfg.solver_iterations,
            deterministicOverlappingPairs=1,
        )
        tx, ty, tz = TABLE_HALF_SIZE
        col = c.createCollisionShape(c.GEOM_BOX, halfExtents=[tx, ty, tz])
        vis = c.createVisualShape(c.GEOM_BOX, halfExtents=[tx, ty, tz], rgbaColor=RGBA["wood"])
        self.table = c.createMultiBody(0, col, vis, basePosition=[0, 0, -tz])
        c.changeDynamics(self.table, -1, lateralFriction=TABLE_FRICTION)
        self.robot = c.loadURDF(
            f"{data_path}/franka_panda/panda.urdf", basePosition=ROBOT_BASE.tolist(), useFixedBase=True,
            flags=c.URDF_USE_INERTIA_FROM_FILE,
        )
        for j in FINGER_JOINTS:
            c.changeDynamics(self.robot, j, lateralFriction=FINGER_FRICTION)
        # Both fingers move together, as the MuJoCo gripper's joint equality makes them.
        gear = c.createConstraint(self.robot, FINGER_JOINTS[0], self.robot, FINGER_JOINTS[1], c.JOINT_GEAR,
                                  [1, 0, 0], [0, 0, 0], [0, 0, 0])
        c.changeConstraint(gear, gearRatio=-1, erp=0.1, maxForce=50)
        self.bodies: dict[str, int] = {}
        self.entity_of_body: dict[int, str] = {self.table: "table"}
        for obj in self.task.objects:
            rgba = RGBA.get(obj.colour, (0.8, 0.8, 0.8, 1))
            if obj.kind == "cube":
                s = obj.size[0]
                col = c.createCollisionShape(c.GEOM_BOX, halfExtents=[s, s, s])
                vis = c.createVisualShape(c.GEOM_BOX, halfExtents=[s, s, s], rgbaColor=rgba)
                body = c.createMultiBody(obj.mass, col, vis, basePosition=[0, 0, s])
                c.changeDynamics(body, -1, lateralFriction=CUBE_FRICTION, spinningFriction=0.001,
                                 rollingFriction=0.0)
                self.entity_of_body[body] = obj.name
            else:  # region: a flat visual-only marker; its body frame lies on the table top (as in MuJoCo)
                hx, hy = obj.size
                vis = c.createVisualShape(c.GEOM_BOX, halfExtents=[hx, hy, 0.0005], rgbaColor=rgba,
                                          visualFramePosition=[0, 0, 0.0005])
                body = c.createMultiBody(0, -1, vis, basePosition=[0, 0, 0])
            self.bodies[obj.name] = body
        self._initial_state = c.saveState()

    # ------------------------------------------------------------------ state access (the tasks call these)
    def _hand_state(self):
        return self._c.getLinkState(self.robot, HAND_LINK, computeForwardKinematics=True)

    def eef_pos(self) -> np.ndarray:
        """Grip point between the fingertips, world frame, metres."""
        ls = self._hand_state()
        return np.asarray(ls[4]) + quat_xyzw_to_mat(ls[5]) @ GRIP_OFFSET

    def eef_xmat(self) -> np.ndarray:
        return quat_xyzw_to_mat(self._hand_state()[5])

    def body_pos(self, name: str) -> np.ndarray:
        return np.asarray(self._c.getBasePositionAndOrientation(self.bodies[name])[0], dtype=np.float64)

    def body_quat(self, name: str) -> np.ndarray:
        """Body orientation as a wxyz quaternion (MuJoCo's order; pybullet's own is xyzw), world frame."""
        x, y, z, w = self._c.getBasePositionAndOrientation(self.bodies[name])[1]
        return np.array([w, x, y, z])

    def arm_state(self) -> tuple[np.ndarray, np.ndarray]:
        states = self._c.getJointStates(self.robot, ARM_JOINTS)
        return np.array([s[0] for s in states]), np.array([s[1] for s in states])

    def finger_qpos(self) -> np.ndarray:
        return np.array([s[0] for s in self._c.getJointStates(self.robot, FINGER_JOINTS)])

    def gripper_opening(self) -> float:
        return float(self.finger_qpos().sum())

    def _entity(self, body: int, link: int) -> str | None:
        if body == self.robot:
            return "gripper" if link in GRIPPER_LINKS else "arm"
        return self.entity_of_body.get(body)

    def _update_contacts(self) -> None:
        pairs: set[tuple[str, str]] = set()
        grasp: dict[str, set[int]] = {}
        for cp in self._c.getContactPoints():
            if cp[8] > CONTACT_TOLERANCE:
                continue
            a, b = self._entity(cp[1], cp[3]), self._entity(cp[2], cp[4])
            if a is None or b is None or a == b:
                continue
            pairs.add((a, b) if a < b else (b, a))
            for (body, link), other in (((cp[1], cp[3]), b), ((cp[2], cp[4]), a)):
                if body == self.robot and link in FINGER_JOINTS:
                    grasp.setdefault(other, set()).add(link)
        self._contacts = pairs
        self._grasp_links = grasp

    def contacts(self) -> set[tuple[str, str]]:
        return set(self._contacts)

    def in_contact(self, a: str, b: str) -> bool:
        return ((a, b) if a < b else (b, a)) in self._contacts

    def is_grasped(self, obj: str) -> bool:
        """Both fingers touch ``obj`` (as the MuJoCo env's pad test)."""
        return len(self._grasp_links.get(obj, ())) == 2

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        c, cfg = self._c, self.config
        # Restoring the snapshot taken right after building also clears contact caches, so a reset with a
        # seed replays exactly, whatever ran before.
        # Contact manifolds survive restoreState; parking every object far away and running collision
        # detection drops them, so the first step of an episode does not warm-start from the last one.
        for body in self.bodies.values():
            c.resetBasePositionAndOrientation(body, [0, 0, 10.0 + body], [0, 0, 0, 1])
        for j, q in zip(ARM_JOINTS, HOME_QPOS, strict=True):
            c.resetJointState(self.robot, j, float(q), 0.0)
        c.performCollisionDetection()
        c.restoreState(self._initial_state)
        # Same random draws, in the same order, as TabletopEnv.reset: posture noise, then the task's sample.
        noise = self.np_random.uniform(-1.0, 1.0, size=7) * cfg.init_qpos_noise
        q0 = np.clip(HOME_QPOS + noise, JOINT_LIMITS[:, 0], JOINT_LIMITS[:, 1])
        placement = self.task.sample(self.np_random)
        for j, q in zip(ARM_JOINTS, q0, strict=True):
            c.resetJointState(self.robot, j, float(q), 0.0)
        for j in FINGER_JOINTS:
            c.resetJointState(self.robot, j, FINGER_MAX_OPENING, 0.0)
        for obj in self.task.objects:
            body = self.bodies[obj.name]
            if obj.kind == "cube":
                xy, yaw = placement[f"{obj.name}_xy"], placement[f"{obj.name}_yaw"]
                quat = [0.0, 0.0, float(np.sin(yaw / 2)), float(np.cos(yaw / 2))]
                c.resetBasePositionAndOrientation(body, [float(xy[0]), float(xy[1]), obj.size[0]], quat)
                c.resetBaseVelocity(body, [0, 0, 0], [0, 0, 0])
            else:
                xy = placement[f"{obj.name}_xy"]
                c.resetBasePositionAndOrientation(body, [float(xy[0]), float(xy[1]), 0.0], [0, 0, 0, 1])
        if cfg.controller == "joint_vel":
            self._arm_command(np.zeros(7), velocity=True)
        else:
            self._arm_command(q0)
        self._finger_command(FINGER_MAX_OPENING)
        # Let objects settle onto the table before the first observation (~20 ms, as the MuJoCo env).
        for _ in range(max(1, int(round(0.02 / cfg.physics_timestep)))):
            c.stepSimulation()
        self._elapsed = 0
        self._update_contacts()
        self._target_pos = self.eef_pos()
        self._target_rot = self.eef_xmat()
        return self._observation(), self._info()

    def step(self, action):
        action = self._check_action(action)
        self._apply_action(action)
        for _ in range(self.n_substeps):
            self._c.stepSimulation()
        self._elapsed += 1
        self._update_contacts()
        success = bool(self.task.success(self))
        if self.config.reward_type == "sparse":
            reward = float(success)
        else:
            reward = float(self.task.dense_reward(self))
        terminated = success and self.config.terminate_on_success
        truncated = self._elapsed >= self.config.max_episode_steps
        return self._observation(), reward, terminated, truncated, self._info(success)

    def _check_action(self, action) -> np.ndarray:
        a = np.asarray(action, dtype=np.float64)
        expected = self.action_space.shape
        if a.shape != expected:
            raise ValueError(
                f"action has shape {a.shape}, expected {expected} for controller {self.config.controller!r} "
                f"({'[dx, dy, dz, drx, dry, drz, gripper]' if expected[0] == 7 else '[7 joint values, gripper]'})"
            )
        if not np.all(np.isfinite(a)):
            bad = np.flatnonzero(~np.isfinite(a)).tolist()
            raise ValueError(f"action contains NaN or inf at indices {bad}: {a.tolist()}; actions must be finite")
        return np.clip(a, -1.0, 1.0)

    def _arm_command(self, values: np.ndarray, velocity: bool = False) -> None:
        c = self._c
        if velocity:
            c.setJointMotorControlArray(self.robot, ARM_JOINTS, c.VELOCITY_CONTROL,
                                        targetVelocities=values.tolist(), forces=ARM_FORCES.tolist())
        else:
            c.setJointMotorControlArray(self.robot, ARM_JOINTS, c.POSITION_CONTROL,
                                        targetPositions=values.tolist(), forces=ARM_FORCES.tolist(),
                                        positionGains=[self._servo_gain] * 7)

    def _finger_command(self, opening: float) -> None:
        c = self._c
        c.setJointMotorControlArray(self.robot, FINGER_JOINTS, c.POSITION_CONTROL,
                                    targetPositions=[opening, opening], forces=[FINGER_FORCE, FINGER_FORCE],
                                    positionGains=[self._servo_gain] * 2)

    def _apply_action(self, a: np.ndarray) -> None:
        cfg = self.config
        q, _ = self.arm_state()
        if cfg.controller == "ee_delta":
            dq = self._ik_step(q, a[:3] * cfg.max_ee_step_m, a[3:6] * cfg.max_ee_rot_rad)
            self._arm_command(np.clip(q + dq, JOINT_LIMITS[:, 0], JOINT_LIMITS[:, 1]))
        elif cfg.controller == "joint_pos":
            self._arm_command(np.clip(q + a[:7] * cfg.max_joint_step_rad, JOINT_LIMITS[:, 0], JOINT_LIMITS[:, 1]))
        else:
            self._arm_command(np.clip(a[:7] * cfg.max_joint_vel_rad_s, -ARM_MAX_VEL, ARM_MAX_VEL), velocity=True)
        self._finger_command(FINGER_MAX_OPENING * (1.0 - a[-1]) / 2.0)

    def _jacobian(self, q: np.ndarray) -> np.ndarray:
        """6x7 Jacobian (linear; angular) of the grip point w.r.t. the arm joints."""
        c = self._c
        # calculateJacobian takes the point in the link's URDF frame here (pybullet 3.2.x; checked against
        # finite differences in tests/test_pybullet_twin.py), not in its centre-of-mass frame.
        fingers = self.finger_qpos()
        qs = [*q.tolist(), *fingers.tolist()]
        zeros = [0.0] * len(qs)
        lin, ang = c.calculateJacobian(self.robot, HAND_LINK, GRIP_OFFSET.tolist(), qs, zeros, zeros)
        return np.vstack([np.asarray(lin)[:, :7], np.asarray(ang)[:, :7]])

    def _ik_step(self, q: np.ndarray, dpos: np.ndarray, drot: np.ndarray, damping: float = 0.05,
                 nullspace_gain: float = 0.1) -> np.ndarray:
        """The MuJoCo env's damped least-squares step on a persistent Cartesian target (see base.py)."""
        eef, rot = self.eef_pos(), self.eef_xmat()
        lag = np.clip(self._target_pos - eef, -MAX_TARGET_LAG_M, MAX_TARGET_LAG_M)
        self._target_pos = eef + lag + dpos
        lag_rot = rotvec(self._target_rot @ rot.T)
        if np.linalg.norm(lag_rot) > MAX_TARGET_LAG_RAD:
            lag_rot *= MAX_TARGET_LAG_RAD / np.linalg.norm(lag_rot)
        self._target_rot = rotmat(drot) @ rotmat(lag_rot) @ rot
        twist = np.concatenate([self._target_pos - eef, rotvec(self._target_rot @ rot.T)])
        jac = self._jacobian(q)
        pinv = jac.T @ np.linalg.inv(jac @ jac.T + (damping**2) * np.eye(6))
        dq = pinv @ twist
        dq += (np.eye(7) - pinv @ jac) @ (nullspace_gain * (HOME_QPOS - q))
        return dq

    def _observation(self):
        q, qd = self.arm_state()
        ls = self._hand_state()
        hand_rot = quat_xyzw_to_mat(ls[5])
        eef = np.asarray(ls[4]) + hand_rot @ GRIP_OFFSET
        parts = [q, qd, eef, mat_to_quat_wxyz(hand_rot), self.finger_qpos()]
        for obj in self.task.objects:
            pos = self.body_pos(obj.name)
            if obj.kind == "cube":
                parts += [pos, self.body_quat(obj.name), eef - pos]
            else:
                parts.append(pos)
        state = np.concatenate(parts).astype(np.float32)
        if self.config.obs_mode == "state":
            return state
        size = self.config.image_size
        return {"state": state, "image": self._render_camera(size, size)}

    def _info(self, success: bool | None = None) -> dict[str, Any]:
        if success is None:
            success = bool(self.task.success(self))
        poses = {obj.name: np.concatenate([self.body_pos(obj.name), self.body_quat(obj.name)])
                 for obj in self.task.objects}
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
        c = self._c
        pos, xyaxes, fovy = CAMERAS[self.config.camera]
        eye = np.asarray(pos, dtype=np.float64)
        x_axis, y_axis = np.asarray(xyaxes[:3], dtype=float), np.asarray(xyaxes[3:], dtype=float)
        forward = -np.cross(x_axis, y_axis)  # MuJoCo cameras look along their -z
        view = c.computeViewMatrix(eye.tolist(), (eye + forward).tolist(), (y_axis / np.linalg.norm(y_axis)).tolist())
        proj = c.computeProjectionMatrixFOV(fovy, width / height, 0.01, 5.0)
        _, _, rgba, _, _ = c.getCameraImage(width, height, view, proj, renderer=c.ER_TINY_RENDERER)
        return np.asarray(rgba, dtype=np.uint8).reshape(height, width, 4)[:, :, :3].copy()

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        return self._render_camera(*self.config.render_size)

    def close(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            try:
                self._pb.disconnect(physicsClientId=client.id)
            except Exception:  # noqa: BLE001 - already disconnected
                pass
            self._client = None

    def __del__(self):
        self.close()


class PybulletPushEnv(PybulletTabletopEnv):
    """pybullet twin of TabletopPush: push the red cube into the green region."""

    def __init__(self, render_mode: str | None = None, config: PybulletConfig | None = None, **options: Any):
        super().__init__(Push(), config=config, render_mode=render_mode, **options)


class PybulletPickPlaceEnv(PybulletTabletopEnv):
    """pybullet twin of TabletopPickPlace: place the red cube in the green region and let go."""

    def __init__(self, render_mode: str | None = None, config: PybulletConfig | None = None, **options: Any):
        super().__init__(PickPlace(), config=config, render_mode=render_mode, **options)


__all__ = ["PybulletConfig", "PybulletTabletopEnv", "PybulletPushEnv", "PybulletPickPlaceEnv"]
