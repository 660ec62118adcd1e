"""Scripted primitive mechanics for any tabletop scene: parametrised phase machines emitting ``ee_delta`` actions.

The experts in ``experts.py`` solve one fixed task each; these are the same phase machines with their
object names as parameters (``PickPlace(env, obj="cube_red", target="cube_blue")``), so a planner can chain
them over any task scene. They read only the flat observation through ``env.obs_layout`` and emit
``ee_delta`` actions, so they also run on learned-skill-compatible envs, on the pybullet twin and, through
the same IK, on an arm.

A motion has ``reset()``, ``act(obs) -> action``, ``done(obs) -> bool`` (it has finished its motion; not
whether it succeeded: the caller checks the predicates) and ``horizon`` (a step budget).

What a primitive *is* (its name, parameters with units and ranges, symbolic preconditions and effects, prior)
is declared once, in ``skill_rl.library.catalog``, which points at these classes; build them by name with
``skill_rl.library.make_scripted(env, name, **params)`` (validated). This module knows nothing of the
library (envs never import learning or planning code).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import mujoco
import numpy as np

from .experts import DrawerExpert, LiftExpert, PlaceExpert, PushExpert, ScriptedExpert, yaw_of
from .play import HANDLE_OFFSET
from .predicates import DRAWER_CLOSED_M
from .scene import HOME_QPOS

__all__ = [
    "CloseDrawer", "Home", "Lift", "OpenDrawer", "PickPlace", "Push", "Reach", "ScriptedPrimitive", "home_grip_pose",
    "hold_still",
]

_FREE = ("cube", "cylinder")


class ScriptedPrimitive(ScriptedExpert):
    """Base of the parametrised primitives: object lookups in the scene and the ``done``/``horizon`` API."""

    name = "primitive"
    horizon = 200

    def __init__(self, env: Any, **params: Any) -> None:
        base = env.unwrapped
        cfg = base.config
        if getattr(cfg, "controller", "ee_delta") != "ee_delta":
            raise ValueError(f"scripted primitives emit ee_delta actions; this env uses controller={cfg.controller!r}")
        self.objects = {o.name: o for o in base.task.objects}
        self.params = dict(params)
        self.max_speed_m_s = cfg.max_ee_step_m * cfg.control_freq  # one full ee_delta step per control period
        super().__init__(base.obs_layout, cfg.max_ee_step_m, cfg.max_ee_rot_rad)

    def limit_speed(self, action: np.ndarray, speed: float | None) -> np.ndarray:
        """``action`` with its translation scaled down so the grip site moves at most ``speed`` m/s (None: as is)."""
        if speed is None:
            return action
        norm = float(np.linalg.norm(action[:3])) * self.max_speed_m_s
        if norm > speed > 0:
            action = action.copy()
            action[:3] *= speed / norm
        return action

    def kind(self, name: str) -> str:
        return self.objects[name].kind

    def half_of(self, name: str) -> float:
        """Half the height of object ``name`` (m): a cube's half size, a cylinder's half length."""
        spec = self.objects[name]
        return float(spec.size[0] if spec.kind == "cube" else spec.size[1])

    def width_of(self, name: str) -> float:
        """Object ``name``'s width between the fingers (m): a cube's size, a cylinder's diameter."""
        return 2.0 * float(self.objects[name].size[0])

    def done(self, obs: np.ndarray) -> bool:
        return self.finished(np.asarray(obs, dtype=np.float64))

    def finished(self, obs: np.ndarray) -> bool:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.name}({args})"


class PickPlace(ScriptedPrimitive, PlaceExpert):
    """Grasp ``obj`` from above and put it on ``target``: a cube/cylinder (stack), a region, or a drawer's tray."""

    name = "pick_place"
    horizon = 300

    def __init__(self, env: Any, obj: str, target: str) -> None:
        super().__init__(env, obj=obj, target=target)
        self.obj, self.target = obj, target
        self.half = self.half_of(obj)
        self.grip_width = self.width_of(obj)

    def place_target(self, obs):
        kind = self.kind(self.target)
        if kind in _FREE:
            return self.get(obs, f"{self.target}_pos") + [0, 0, self.half_of(self.target) + self.half + 0.006]
        if kind == "region":
            return self.get(obs, f"{self.target}_pos") + [0, 0, self.half + 0.008]
        # drawer: the middle of the tray's exposed part (front wall 8 mm; tray floor at 12 mm)
        handle = self.get(obs, f"{self.target}_handle_pos")
        opening = float(self.get(obs, f"{self.target}_opening")[0])
        front = handle[0] + HANDLE_OFFSET
        return np.array([front + 0.008 + max(opening, 0.06) / 2, handle[1], 0.012 + self.half + 0.01])

    def finished(self, obs):
        if self.phase != "retreat":
            return False
        return bool(self.get(obs, "eef_pos")[2] > self.place_target(obs)[2] + 0.09 or self.timeout(30))


class Lift(ScriptedPrimitive, LiftExpert):
    """Grasp ``obj`` and lift it until its centre is 13 cm above the table (Lifted holds above 10 cm)."""

    name = "lift"
    horizon = 200

    def __init__(self, env: Any, obj: str) -> None:
        super().__init__(env, obj=obj)
        self.obj = obj
        self.half = self.half_of(obj)
        self.grip_width = self.width_of(obj)

    def finished(self, obs):
        held = self.get(obs, "gripper_qpos").sum() > 0.005
        return bool(self.phase == "lift" and held and self.get(obs, f"{self.obj}_pos")[2] > 0.13)


class Reach(ScriptedPrimitive):
    """Move the grip site to ``xyz`` (world, m) with the gripper open and pointing down, at most ``speed`` m/s
    (None: the controller's limit)."""

    name = "reach"
    horizon = 80
    phases = ("reach",)

    def __init__(self, env: Any, xyz: Sequence[float], speed: float | None = None) -> None:
        point = np.asarray(xyz, dtype=np.float64)
        if point.shape != (3,):
            raise ValueError(f"reach: xyz must be 3 numbers (m, world), got {point.tolist()}")
        super().__init__(env, xyz=point.tolist(), **({} if speed is None else {"speed": speed}))
        self.xyz = point
        self.speed = speed

    def _act(self, obs):
        return self.limit_speed(self.move(obs, self.xyz, gain=0.9), self.speed)

    def finished(self, obs):
        return self.near(obs, self.xyz, 0.01)


@lru_cache(maxsize=8)
def _home_grip(model: Any) -> tuple[tuple[float, float, float], float]:
    data = mujoco.MjData(model)
    data.qpos[:7] = HOME_QPOS
    mujoco.mj_kinematics(model, data)
    site = model.site("grip_site").id
    quat = np.empty(4)
    mujoco.mju_mat2Quat(quat, data.site_xmat[site])
    return tuple(float(v) for v in data.site_xpos[site]), yaw_of(quat)  # type: ignore[return-value]


def home_grip_pose(env: Any) -> tuple[np.ndarray, float]:
    """The home grip pose of ``env``'s arm: the grip site's position (world, m) and yaw (rad) at ``HOME_QPOS``."""
    pos, yaw = _home_grip(env.unwrapped.model)
    return np.array(pos), yaw


class Home(ScriptedPrimitive):
    """Go to the home grip pose without sweeping across the table (an ``ee_delta`` motion, like the others).

    Open the gripper where it is (letting go of anything held), rise straight up to ``safe_z`` if lower (x and y
    held), then move the grip site to the home grip pose (where it is at ``HOME_QPOS``, pointing down) at
    most ``speed`` m/s. Why not a joint-space move to ``HOME_QPOS``: from a low pose its path sweeps the hand
    across whatever stands on the table.
    """

    name = "home"
    horizon = 160
    phases = ("open", "rise", "travel")
    safe_z = 0.15  # m above the table top: over a stack of three cubes (0.13 m) and the cabinet (0.07 m)

    def __init__(self, env: Any, speed: float | None = 0.5) -> None:
        super().__init__(env, **({} if speed is None else {"speed": speed}))
        self.speed = speed
        self.home, self.home_yaw = home_grip_pose(env)

    def _act(self, obs):
        eef = self.get(obs, "eef_pos")
        start = self.memory.setdefault("start", eef.copy())
        yaw = self.memory.setdefault("yaw", yaw_of(self.get(obs, "eef_quat")))  # no turning near the objects
        if self.phase == "open":
            if self.get(obs, "gripper_qpos").sum() > 0.07 or self.timer > 12:
                self.goto("rise")
            return self.move(obs, start, yaw, gripper=-1.0)
        if self.phase == "rise":
            if eef[2] >= self.safe_z - 0.01:
                self.goto("travel")
            top = np.array([start[0], start[1], max(self.safe_z, start[2])])
            return self.limit_speed(self.move(obs, top, yaw, gripper=-1.0), self.speed)
        return self.limit_speed(self.move(obs, self.home, self.home_yaw, gripper=-1.0, gain=0.9), self.speed)

    def finished(self, obs):
        return bool(self.phase == "travel" and self.near(obs, self.home, 0.01))


class Push(ScriptedPrimitive, PushExpert):
    """Close the gripper into a paddle, get behind ``obj`` on the line to ``target_xy``, push it there
    (:class:`~skill_rl.envs.tabletop.experts.PushExpert`'s phases, with the object and goal as parameters).

    ``target_xy``: two numbers (world, m) or the name of a region (its centre, read from the observation).
    """

    name = "push"
    horizon = 300

    def __init__(self, env: Any, obj: str, target_xy: Sequence[float] | str) -> None:
        if not isinstance(target_xy, str):
            target_xy = [float(v) for v in target_xy]
            if len(target_xy) != 2:
                raise ValueError(f"push: target_xy must be 2 numbers (m, world) or a region name, got {target_xy}")
        super().__init__(env, obj=obj, target_xy=target_xy)
        if isinstance(target_xy, str) and self.kind(target_xy) != "region":
            raise ValueError(f"push: target {target_xy!r} is a {self.kind(target_xy)}, not a region")
        self.obj, self.target_xy = obj, target_xy
        self.half = self.half_of(obj)
        self.grip_width = self.width_of(obj)

    def pushed_pos(self, obs) -> np.ndarray:
        return self.get(obs, f"{self.obj}_pos")

    def goal_xy(self, obs) -> np.ndarray:
        if isinstance(self.target_xy, str):
            return self.get(obs, f"{self.target_xy}_pos")[:2]
        return np.asarray(self.target_xy, dtype=np.float64)

    def finished(self, obs):
        return bool(self.phase == "retreat" and (self.get(obs, "eef_pos")[2] > 0.1 or self.timeout(25)))


class OpenDrawer(ScriptedPrimitive, DrawerExpert):
    """Grasp the drawer's vertical handle bar from above and pull it out along -x, then let go and back off.

    Every switch acts on the observation that triggers it, on what the observation shows (the fingers closed on
    the bar, opened off it, the hand back above the handle), not on a timer: a policy imitating a timer sees the
    same frames before and after it fires (issue 18). Timers are fallbacks (``timeout``).
    """

    name = "open_drawer"
    horizon = 220

    def __init__(self, env: Any, drawer: str) -> None:
        super().__init__(env, drawer=drawer)
        if self.kind(drawer) != "drawer":
            raise ValueError(f"open_drawer: {drawer!r} is a {self.kind(drawer)}, not a drawer (cabinet)")
        self.drawer = drawer

    def retreat_target(self, eef: np.ndarray, handle: np.ndarray) -> np.ndarray:
        """Back up to 10 cm above the handle, where :meth:`finished` sees it."""
        return np.array([eef[0], eef[1], handle[2] + 0.1])

    def finished(self, obs):
        # back above the handle (visible), not a number of steps after letting go
        up = self.get(obs, "eef_pos")[2] > self.get(obs, f"{self.drawer}_handle_pos")[2] + 0.09
        return bool(self.phase == "retreat" and (up or self.timeout(30)))


class CloseDrawer(ScriptedPrimitive):
    """Push the drawer's front plate (beside the handle) along +x with the closed gripper until it is shut."""

    name = "close_drawer"
    horizon = 200
    phases = ("above", "descend", "push", "retreat")
    side_offset = 0.05  # push this far beside the handle (m, along y), clear of its bar
    push_z = 0.035

    def __init__(self, env: Any, drawer: str) -> None:
        super().__init__(env, drawer=drawer)
        if self.kind(drawer) != "drawer":
            raise ValueError(f"close_drawer: {drawer!r} is a {self.kind(drawer)}, not a drawer (cabinet)")
        self.drawer = drawer

    def _act(self, obs):
        handle = self.get(obs, f"{self.drawer}_handle_pos")
        opening = float(self.get(obs, f"{self.drawer}_opening")[0])
        eef = self.get(obs, "eef_pos")
        front = handle[0] + HANDLE_OFFSET
        side = self.memory.setdefault("side", self.side_offset if eef[1] >= handle[1] else -self.side_offset)
        start = np.array([front - 0.03, handle[1] + side, self.push_z])
        if self.phase == "above":  # each switch acts on the observation that triggers it; timers are fallbacks
            target = start + [0, 0, 0.08]
            if not (self.near(obs, target, 0.015) or self.timeout(60)):
                return self.move(obs, target, gripper=1.0, approach=True)
            self.goto("descend")
        if self.phase == "descend":
            if not (abs(eef[2] - start[2]) < 0.008 or self.timeout(40)):
                return self.move(obs, start, gripper=1.0, gain=0.8, approach=True)
            self.goto("push")
        if self.phase == "push":
            if not (opening < DRAWER_CLOSED_M * 0.4 or self.timeout(80)):
                target = np.array([front + 0.03, handle[1] + side, self.push_z])
                return self.move(obs, target, gripper=1.0, max_speed=0.5)
            self.goto("retreat")
        # straight up with the fingers still closed: opening them beside the handle bar could hook it
        return self.move(obs, [eef[0], eef[1], 0.15], gripper=1.0, max_speed=0.5)

    def finished(self, obs):
        return bool(self.phase == "retreat" and (self.get(obs, "eef_pos")[2] > 0.1 or self.timeout(25)))


def hold_still(env: Any, obs: np.ndarray) -> np.ndarray:
    """An action that keeps the grip site where it is, pointing down, and the gripper as it is: closed when it
    holds something (a lifted object stays lifted: ``Lifted`` can be a goal), open otherwise."""
    base = env.unwrapped
    hold = ScriptedExpert(base.obs_layout, base.config.max_ee_step_m, base.config.max_ee_rot_rad)
    obs = np.asarray(obs, dtype=np.float64)
    eef = hold.get(obs, "eef_pos")
    closed = hold.get(obs, "gripper_qpos").sum() < 0.07  # open: 0.08
    return hold.move(obs, eef, yaw=yaw_of(hold.get(obs, "eef_quat")), gripper=1.0 if closed else -1.0)
