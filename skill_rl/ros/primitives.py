"""Primitives: closed-loop skills the skill server runs, picked by name (``PRIMITIVES``).

A primitive maps observations to joint-space commands. Each cycle (``rate_hz``, 20 Hz like the tabletop
envs) the skill server gives it the world's latest state observation (the task env's flat vector and its
layout, from ``/scene_state``) and gets back a ``PrimitiveStep``: a joint position target for the arm
(rad, the HAL's joint order), a gripper opening (m, or None to leave it), its phase and progress, and
whether it is done and succeeded.

Scripted experts (``skill_rl.envs.tabletop.experts``) become primitives through ``ExpertPrimitive``: the
expert's ``ee_delta`` action (Cartesian step of the grip site, world frame, plus gripper) is turned into a
joint target by the tabletop env's own damped-least-squares IK (``KinematicModel``, a kinematic copy of
the world's model: it is posed at the measured joints, never stepped). A learned policy plugs in the same
way: subclass ``Primitive``, register it.

No rclpy here; ``run_lockstep`` runs a primitive against a ``TabletopSceneArm`` without ROS (tests, debugging).
"""

from __future__ import annotations

import abc
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from skill_rl.registry import Registry

__all__ = [
    "PRIMITIVES",
    "BadParamsError",
    "ExpertPrimitive",
    "JointMovePrimitive",
    "KinematicModel",
    "Primitive",
    "PrimitiveStep",
    "PushPrimitive",
    "UnknownSkillError",
    "make_primitive",
    "parse_params",
    "register",
    "run_lockstep",
    "skill_names",
]


class UnknownSkillError(KeyError):
    """No primitive of that name, or it cannot run in this world (the scene lacks what it needs)."""

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return str(self.args[0]) if self.args else ""


class BadParamsError(ValueError):
    """The goal's params are not a JSON object, or a key/value the primitive does not take."""


@dataclass(frozen=True)
class PrimitiveStep:
    """One cycle's output. joint_target: (7,) rad or None (no new command); gripper_width: m between the
    fingers or None (leave it); progress: 0..1; done: the primitive has finished (success says how)."""

    joint_target: np.ndarray | None
    gripper_width: float | None
    phase: str
    progress: float
    done: bool = False
    success: bool = False
    message: str = ""


def parse_params(text: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """The goal's ``params`` string as a dict: "" / "{}" / None -> {}; anything but a JSON object raises."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return {}
    if isinstance(text, Mapping):
        return dict(text)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise BadParamsError(f"params is not valid JSON ({e.msg} at column {e.colno}): {text!r}") from e
    if not isinstance(value, dict):
        raise BadParamsError(f"params must be a JSON object, got {type(value).__name__}: {text!r}")
    return value


def _floats(value: Any, n: int, key: str) -> np.ndarray:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != n:
        raise BadParamsError(f"{key} must be a list of {n} numbers, got {value!r}")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise BadParamsError(f"{key} must be {n} finite numbers, got {value!r}")
        out.append(float(v))
    return np.array(out)


def _number(value: Any, key: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not lo <= value <= hi:
        raise BadParamsError(f"{key} must be a number in [{lo}, {hi}], got {value!r}")
    return float(value)


class KinematicModel:
    """The tabletop env's model used for kinematics only: pose it at measured joints, run one IK step.

    ``ee_delta_target(q, action)``: the env's ``ee_delta`` controller, once: the persistent Cartesian
    target moves by the action's twist (at most ``max_ee_step_m`` / ``max_ee_rot_rad``), and damped least
    squares turns the pose error into a joint position target (rad, clipped to the joint limits); the
    gripper value (-1 open .. +1 closed) becomes an opening width (m).
    """

    #: A joint target never leads the measured position by more than this (rad): the HAL's safety filter
    #: clamps (and, if repeated, faults) at max_relative_target_rad = 0.25; a controller must stay inside
    #: the net, not lean on it. The env's own servos have no such limit, hence the clip here.
    max_lead_rad: float = 0.2
    #: The Cartesian target's grip point never goes lower than this (m, world z; the table top is 0): the
    #: HAL's workspace floor keeps the fingertips (8 mm past the grip point) above the table, and a target
    #: under it is a violation the filter clamps and, repeated 25 cycles, faults on. The env's ee_delta
    #: target leads the measured pose by up to 3 cm, so a fast descent would otherwise aim into the table.
    min_grip_z: float = 0.0

    def __init__(self, task_id: str, description: Any = "panda"):
        import mujoco

        from skill_rl.envs import make
        from skill_rl.envs.tabletop.scene import FINGER_MAX_OPENING, JOINT_LIMITS, ROBOT_BASE
        from skill_rl.hardware import load_description

        desc = description if not isinstance(description, str) else load_description(description)
        clearance = 0.002  # m, fingertips above the floor
        self.min_grip_z = float(desc.workspace.lower[2] + ROBOT_BASE[2] + desc.kinematics.fingertip_offset + clearance)

        self._mujoco = mujoco
        self.env = make(task_id).unwrapped
        self.env.reset(seed=0)
        self.config = self.env.config
        self.layout = dict(self.env.obs_layout)
        self.lower, self.upper = JOINT_LIMITS[:, 0].copy(), JOINT_LIMITS[:, 1].copy()
        self.max_width = 2.0 * FINGER_MAX_OPENING

    def set_joints(self, q: np.ndarray) -> None:
        d = self.env.data
        d.qpos[:7] = q
        self._mujoco.mj_kinematics(self.env.model, d)
        self._mujoco.mj_comPos(self.env.model, d)

    def reset_target(self, q: np.ndarray) -> None:
        """Start a new primitive: the Cartesian target := the grip site's pose at ``q``."""
        self.set_joints(q)
        self.env._reset_ee_target()

    def ee_delta_target(self, q: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, float]:
        a = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        self.set_joints(q)
        dpos = a[:3] * self.config.max_ee_step_m
        # Where the env's IK will put its persistent target (its own rule: at most 3 cm ahead of the grip
        # point, then moved by dpos); lift dpos so that the target stays above the table clearance.
        from skill_rl.envs.tabletop.base import MAX_TARGET_LAG_M

        env = self.env
        eef_z = float(env.data.site_xpos[env.grip_site][2])
        lag_z = float(np.clip(env._target_pos[2] - eef_z, -MAX_TARGET_LAG_M, MAX_TARGET_LAG_M))
        dpos[2] += max(0.0, self.min_grip_z - (eef_z + lag_z + dpos[2]))
        dq = env._ik_step(dpos, a[3:6] * self.config.max_ee_rot_rad)
        dq = np.clip(dq, -self.max_lead_rad, self.max_lead_rad)
        target = np.clip(q + dq, self.lower, self.upper)
        width = self.max_width * (1.0 - a[6]) / 2.0
        return target, float(width)

    def close(self) -> None:
        self.env.close()


class Primitive(abc.ABC):
    """A closed-loop skill. Subclasses set ``name``, ``needs`` (observation fields the world must have),
    ``params_doc`` and implement ``_configure(params)``, ``start(obs)`` and ``step(obs)``.

    obs is the world's flat state vector (float64) laid out by ``layout`` (field -> slice).
    """

    name: ClassVar[str] = ""
    needs: ClassVar[tuple[str, ...]] = ("joint_pos",)
    params_doc: ClassVar[dict[str, str]] = {}
    default_timeout_s: ClassVar[float] = 60.0
    rate_hz: ClassVar[float] = 20.0

    def __init__(self, kin: KinematicModel, layout: Mapping[str, slice], params: Mapping[str, Any] | None = None):
        self.kin = kin
        self.layout = dict(layout)
        params = dict(params or {})
        unknown = sorted(set(params) - set(self.params_doc))
        if unknown:
            valid = ", ".join(f"{k} ({v})" for k, v in self.params_doc.items()) or "none"
            raise BadParamsError(f"skill {self.name!r} takes no parameter {', '.join(map(repr, unknown))}; valid: {valid}")
        self.params = params
        self._configure(params)

    def get(self, obs: np.ndarray, field: str) -> np.ndarray:
        return np.asarray(obs[self.layout[field]], dtype=np.float64)

    def _configure(self, params: dict[str, Any]) -> None:  # noqa: B027 - an optional hook
        """Validate and store ``params`` (raise ``BadParamsError``)."""

    @abc.abstractmethod
    def start(self, obs: np.ndarray) -> None:
        """Called once with the first observation of the goal."""

    @abc.abstractmethod
    def step(self, obs: np.ndarray) -> PrimitiveStep:
        """One cycle."""


PRIMITIVES: Registry[type[Primitive]] = Registry("skill")


def register(cls: type[Primitive]) -> type[Primitive]:
    """Class decorator: add a primitive to ``PRIMITIVES`` under its ``name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    PRIMITIVES.add(cls.name, cls)
    return cls


def skill_names() -> list[str]:
    return PRIMITIVES.names()


def make_primitive(name: str, kin: KinematicModel, layout: Mapping[str, slice], params: Any = None) -> Primitive:
    """Build the primitive ``name`` for this world; ``params`` a JSON string or a mapping.

    Raises ``UnknownSkillError`` (no such skill, or the world lacks the fields it needs) or
    ``BadParamsError``.
    """
    if name not in PRIMITIVES.names():
        raise UnknownSkillError(f"unknown skill {name!r}; available: {', '.join(skill_names())}")
    cls = PRIMITIVES.get(name)
    missing = [f for f in cls.needs if f not in layout]
    if missing:
        runnable = [n for n in skill_names() if all(f in layout for f in PRIMITIVES.get(n).needs)]
        raise UnknownSkillError(f"skill {name!r} cannot run in this world: it needs {', '.join(missing)}; "
                                f"skills available here: {', '.join(runnable)}")
    return cls(kin, layout, parse_params(params))


# ---------------------------------------------------------------- scripted experts as primitives
class ExpertPrimitive(Primitive):
    """A scripted expert (``expert`` key of ``skill_rl.envs.tabletop.experts.EXPERTS``) + IK.

    ``override``: params key -> observation field whose first two values (x, y) it replaces (a place or
    push target other than the scene's region). Done when ``succeeded`` holds for ``settle_steps`` cycles
    in a row; gives up after ``max_steps`` cycles.
    """

    expert: ClassVar[str] = ""
    override: ClassVar[dict[str, str]] = {}
    settle_steps: ClassVar[int] = 5
    max_steps: ClassVar[int] = 600

    def _configure(self, params):
        self._overrides = {self.override[k]: _floats(v, 2, k) for k, v in params.items() if k in self.override}

    def observe(self, obs: np.ndarray) -> np.ndarray:
        obs = np.array(obs, dtype=np.float64)
        for field, xy in self._overrides.items():
            obs[self.layout[field].start:self.layout[field].start + 2] = xy
        return obs

    def start(self, obs):
        from skill_rl.envs.tabletop.experts import EXPERTS

        cfg = self.kin.config
        self.agent = EXPERTS[self.expert](self.layout, cfg.max_ee_step_m, cfg.max_ee_rot_rad)
        self.agent.reset()
        self.kin.reset_target(self.get(obs, "joint_pos"))
        self.steps = 0
        self.settled = 0
        self.best_progress = 0.0

    def succeeded(self, obs: np.ndarray) -> bool:
        raise NotImplementedError

    def step(self, obs):
        obs = self.observe(obs)
        action = self.agent.act(obs)
        target, width = self.kin.ee_delta_target(self.get(obs, "joint_pos"), action)
        self.steps += 1
        ok = self.succeeded(obs)
        self.settled = self.settled + 1 if ok else 0
        phases = self.agent.phases
        idx = phases.index(self.agent.phase) if self.agent.phase in phases else 0
        self.best_progress = max(self.best_progress, min(0.95, (idx + 1) / (len(phases) + 1)), 1.0 if self.settled >= self.settle_steps else 0.0)
        if self.settled >= self.settle_steps:
            return PrimitiveStep(target, width, self.agent.phase, 1.0, done=True, success=True,
                                 message=f"{self.name} succeeded after {self.steps} steps")
        if self.steps >= self.max_steps:
            return PrimitiveStep(target, width, self.agent.phase, self.best_progress, done=True, success=False,
                                 message=f"{self.name} did not succeed within {self.max_steps} steps (phase {self.agent.phase!r})")
        return PrimitiveStep(target, width, self.agent.phase, self.best_progress)


@register
class PickPlacePrimitive(ExpertPrimitive):
    """Grasp the cube, carry it above the region (or ``place_xy``), lower, release, retreat."""

    name = "pick_place"
    expert = "pick_place"
    needs = ("joint_pos", "eef_pos", "gripper_qpos", "cube_pos", "cube_quat", "region_pos")
    params_doc = {"place_xy": "[x, y] place point, world m (default: the region's centre)"}
    override = {"place_xy": "region_pos"}
    tolerance = 0.045  # m, |cube - place point| per axis (the region is 10 cm square)

    def succeeded(self, obs):
        cube, place = self.get(obs, "cube_pos"), self.get(obs, "region_pos")
        released = self.get(obs, "gripper_qpos").sum() > 0.06
        clear = self.get(obs, "eef_pos")[2] > cube[2] + 0.05
        return bool(np.all(np.abs(cube[:2] - place[:2]) < self.tolerance) and cube[2] < 0.03 and released and clear)


@register
class LiftPrimitive(ExpertPrimitive):
    """Grasp the cube and lift it above 10 cm; ends holding it."""

    name = "lift"
    expert = "lift"
    needs = ("joint_pos", "eef_pos", "gripper_qpos", "cube_pos", "cube_quat")

    def succeeded(self, obs):
        return bool(self.get(obs, "cube_pos")[2] > 0.1 and self.get(obs, "gripper_qpos").sum() < 0.05)


@register
class PushPrimitive(ExpertPrimitive):
    """Close the fingers into a paddle and push the cube along the table into the region (or ``push_xy``).

    The grip point runs 1.5 cm above the table, the lowest any primitive goes: the safety filter's workspace
    box must let it (its floor is the table plane) while still stopping a dive into the table.
    """

    name = "push"
    expert = "push"
    needs = ("joint_pos", "eef_pos", "cube_pos", "region_pos")
    params_doc = {"push_xy": "[x, y] goal of the cube, world m (default: the region's centre)"}
    override = {"push_xy": "region_pos"}
    tolerance = 0.04  # m, |cube - goal| per axis (TabletopPush's 8 cm region)

    def succeeded(self, obs):
        # Done only once the hand is clear above the cube (the expert's retreat): a push that ends with the
        # fingers still against the cube would shove it on while the arm brakes to a stop.
        cube, goal = self.get(obs, "cube_pos"), self.get(obs, "region_pos")
        clear = self.get(obs, "eef_pos")[2] > cube[2] + 0.04
        return bool(np.all(np.abs(cube[:2] - goal[:2]) < self.tolerance) and cube[2] < 0.03 and clear)


@register
class JointMovePrimitive(Primitive):
    """Move the joints to the home posture (or ``joints``) at ``speed`` rad/s; optionally open the gripper."""

    name = "home"
    params_doc = {
        "joints": "7 joint positions, rad (default: home)",
        "speed": "max joint speed, rad/s (default 0.5)",
        "open_gripper": "true to open the gripper (default false)",
    }
    tolerance = 0.01  # rad

    def _configure(self, params):
        from skill_rl.envs.tabletop.scene import HOME_QPOS

        self.goal = _floats(params["joints"], 7, "joints") if "joints" in params else HOME_QPOS.copy()
        if np.any(self.goal < self.kin.lower) or np.any(self.goal > self.kin.upper):
            raise BadParamsError(f"joints {self.goal.tolist()} are outside the joint limits")
        self.speed = _number(params.get("speed", 0.5), "speed", 0.01, 2.0)
        open_gripper = params.get("open_gripper", False)
        if not isinstance(open_gripper, bool):
            raise BadParamsError(f"open_gripper must be true or false, got {open_gripper!r}")
        self.width = self.kin.max_width if open_gripper else None

    def start(self, obs):
        self.cmd = self.get(obs, "joint_pos")
        self.start_error = max(float(np.max(np.abs(self.goal - self.cmd))), 1e-6)

    def step(self, obs):
        q = self.get(obs, "joint_pos")
        self.cmd = self.cmd + np.clip(self.goal - self.cmd, -self.speed / self.rate_hz, self.speed / self.rate_hz)
        err = float(np.max(np.abs(self.goal - q)))
        progress = float(np.clip(1.0 - err / self.start_error, 0.0, 1.0))
        if err < self.tolerance:
            return PrimitiveStep(self.goal.copy(), self.width, "arrived", 1.0, done=True, success=True,
                                 message=f"at the goal posture (max error {err:.4f} rad)")
        return PrimitiveStep(self.cmd.copy(), self.width, "moving", progress)


# ---------------------------------------------------------------- offline runner
def run_lockstep(arm: Any, primitive: Primitive, *, max_seconds: float = 40.0, hal_rate_hz: float | None = None) -> tuple[PrimitiveStep, list[PrimitiveStep]]:
    """Run ``primitive`` on a configured and active ``TabletopSceneArm`` built on a ``ManualClock`` (no ROS):
    the HAL loop at the description's rate, the primitive at its own, commands through ``ArmHAL.write``.
    Returns (last step, all steps)."""
    from skill_rl.hardware.types import JointPositionCommand

    period = 1.0 / (hal_rate_hz or arm.description.nominal_rate_hz)
    every = max(1, int(round(1.0 / (primitive.rate_hz * period))))
    clock = arm.clock
    steps: list[PrimitiveStep] = []
    state = arm.scene_state()
    layout = {k: slice(*v) for k, v in state["layout"].items()}
    assert layout == primitive.layout
    primitive.start(np.asarray(state["obs"]))
    cmd = None
    for i in range(int(max_seconds / period)):
        clock.advance(period)
        arm.read()
        if i % every == 0:
            st = primitive.step(np.asarray(arm.scene_state()["obs"]))
            steps.append(st)
            if st.done:
                return st, steps
            if st.gripper_width is not None:
                arm.gripper.command(st.gripper_width, force=20.0)
            cmd = JointPositionCommand(st.joint_target, clock(), arm.joint_names) if st.joint_target is not None else None
        arm.write(cmd)
        cmd = None
        arm.step(period)
    return steps[-1], steps
