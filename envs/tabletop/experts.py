"""Scripted experts: phase machines over the observation vector (privileged object state).

An expert reads only the flat observation through the env's ``obs_layout`` and emits ``ee_delta`` actions,
so the same expert drives the MuJoCo tabletop and its pybullet twin; later issues use them to produce
demonstrations and play data. Each expert is a small state machine (approach, descend, grasp, carry,
release) with proportional control on the grip-site position and on the gripper's yaw.

Usage::

    expert = make_expert(env)
    obs, _ = env.reset(seed=0)
    expert.reset()
    action = expert.act(obs)
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

# Phase switches forced by a timer rather than by their observable condition, "<class>.<phase>" -> count. The
# experts' actions are a function of the observation (a policy can imitate them) only where the observation
# decides; the timers remain as fallbacks, and this counter lets a benchmark show how rarely they fire
# (benchmarks/lifelong_markov.py).
FALLBACKS: Counter[str] = Counter()

# Grip frame when pointing straight down with zero yaw: x -> world x, y -> world -y, z -> world -z.
_DOWN = np.diag([1.0, -1.0, -1.0])

#: Least speed (action units, i.e. x ``max_step_m`` per step) of the approaches that end in a switch (above an
#: object, descend to the grasp, lower to the release point): the proportional approach is sped up to it, so the
#: switch's trigger is crossed at a steady pace rather than approached ever more slowly. Why: a policy imitating
#: a decaying approach learns near-zero motion next to the trigger, a fixed point where it hovers for ever
#: (issue 18: BC pick_place stalled above the cube and above the region). 0 keeps the plain proportional approach.
APPROACH_MIN_SPEED = 0.3


def quat_wxyz_to_mat(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def yaw_of(q: np.ndarray) -> float:
    """Yaw (rotation about world z) of a wxyz quaternion, radians."""
    w, x, y, z = q
    return float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))


def grasp_yaw(object_quat: np.ndarray) -> float:
    """Gripper yaw that puts the fingers on a pair of faces of a box: the object's yaw folded into [-45°, 45°]."""
    yaw = yaw_of(object_quat)
    return float((yaw + np.pi / 4) % (np.pi / 2) - np.pi / 4)


def rotation_error(current: np.ndarray, desired: np.ndarray) -> np.ndarray:
    """World-frame rotation vector taking ``current`` to ``desired`` (both 3x3)."""
    r = desired @ current.T
    angle = np.arccos(np.clip((np.trace(r) - 1) / 2, -1.0, 1.0))
    if angle < 1e-6:
        return np.zeros(3)
    axis = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
    if np.sin(angle) < 1e-6:  # 180°: pick the axis from the symmetric part
        axis = np.sqrt(np.clip((np.diag(r) + 1) / 2, 0, None))
        return axis * angle
    return axis / (2 * np.sin(angle)) * angle


class ScriptedExpert:
    """Base: phase bookkeeping and the Cartesian/yaw proportional controller."""

    phases: tuple[str, ...] = ()

    def __init__(self, layout: dict[str, slice], max_step_m: float, max_rot_rad: float):
        self.layout = layout
        self.max_step = max_step_m
        self.max_rot = max_rot_rad
        self.reset()

    def reset(self) -> None:
        self.phase = self.phases[0] if self.phases else ""
        self.timer = 0
        self.memory: dict[str, Any] = {}

    def get(self, obs: np.ndarray, name: str) -> np.ndarray:
        return np.asarray(obs[self.layout[name]], dtype=np.float64)

    def goto(self, phase: str) -> None:
        self.phase, self.timer = phase, 0

    def timeout(self, limit: int) -> bool:
        """The fallback of an observable phase switch: more than ``limit`` steps in this phase (counted in
        :data:`FALLBACKS`). Use as ``condition or self.timeout(n)``, so only a switch the timer forces counts."""
        if self.timer > limit:
            FALLBACKS[f"{type(self).__name__}.{self.phase}"] += 1
            return True
        return False

    def move(self, obs, target, yaw: float = 0.0, gripper: float = -1.0, gain: float = 1.0, max_speed: float = 1.0,
             approach: bool = False):
        """Action moving the grip site to ``target`` (world, m) with the gripper down at ``yaw``; ``approach``:
        a move that ends in a switch, kept at least :data:`APPROACH_MIN_SPEED` fast."""
        eef = self.get(obs, "eef_pos")
        # The env's Cartesian target persists and already carries the servo lag, so half the error per step
        # converges without overshoot.
        dpos = np.clip((np.asarray(target) - eef) * 0.5 * gain / self.max_step, -max_speed, max_speed)
        speed = float(np.linalg.norm(dpos))
        if approach and 0.0 < speed < APPROACH_MIN_SPEED:
            # never past the target: the env's Cartesian target persists, so one that overshoots keeps pressing on
            # (a cube lowered onto another at a flat 0.3 was pushed off it: scripted stacks 16/30 vs 30/30)
            whole_error = float(np.linalg.norm(np.asarray(target) - eef)) / self.max_step
            floor = min(APPROACH_MIN_SPEED, max_speed, whole_error)
            if speed < floor:
                dpos = dpos * (floor / speed)
        current = quat_wxyz_to_mat(self.get(obs, "eef_quat"))
        c, s = np.cos(yaw), np.sin(yaw)
        desired = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ _DOWN
        drot = np.clip(rotation_error(current, desired) * 0.4 / self.max_rot, -1.0, 1.0)
        return np.concatenate([dpos, drot, [gripper]]).astype(np.float32)

    def near(self, obs, target, tol: float) -> bool:
        return bool(np.linalg.norm(self.get(obs, "eef_pos") - np.asarray(target)) < tol)

    def act(self, obs: np.ndarray) -> np.ndarray:
        self.timer += 1
        return self._act(np.asarray(obs, dtype=np.float64))

    def _act(self, obs: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class ReachExpert(ScriptedExpert):
    phases = ("reach",)

    def _act(self, obs):
        return self.move(obs, self.get(obs, "goal_pos"), gain=0.9)


class PickExpert(ScriptedExpert):
    """Grasp ``obj`` from above, then hand over to :meth:`carry`; subclasses decide where it goes."""

    phases = ("above", "descend", "close", "lift", "carry", "lower", "release", "retreat", "done")
    obj = "cube"
    half = 0.02  # object half-height (m)
    carry_height = 0.15
    grip_width = 0.04  # the object's width between the fingers (m): the fingers have closed on it below this + 6 mm

    def _act(self, obs):
        pos = self.get(obs, f"{self.obj}_pos")
        if self.phase in ("above", "descend", "close"):
            self.memory["yaw"] = grasp_yaw(self.get(obs, f"{self.obj}_quat"))
        yaw = self.memory.get("yaw", 0.0)
        eef = self.get(obs, "eef_pos")
        # Every switch acts on the observation that triggers it (no one-step lag: a policy would see the same
        # frame labelled with either phase), and every timer is only a fallback (``timeout``).
        if self.phase == "descend" and np.linalg.norm(eef[:2] - pos[:2]) > 0.03:
            self.goto("above")  # drifted off the object: back above it
        if self.phase == "above":
            target = pos + [0, 0, 0.08]
            if not (self.near(obs, target, 0.015) or self.timeout(60)):
                return self.move(obs, target, yaw, approach=True)
            self.goto("descend")
        if self.phase == "descend":
            target = pos + [0, 0, 0.0]
            if abs(eef[2] - target[2]) < 0.008 or self.timeout(40):
                self.goto("close")  # and close from this very observation (below): the observation decides
            if self.phase != "close":
                return self.move(obs, target, yaw, gain=0.8, approach=True)
        if self.phase == "close":
            # Lift once the fingers have closed on the object (visible in the observation), not after a timer the
            # observation does not show: a policy imitating the timer sees the same frames before and after it
            # fires and stalls there (issue 18). "Closed on it" is the opening reaching the object's width, so a
            # gripper slower than the simulation's (a real Franka Hand: 0.1 m/s, the HAL's simulated arm) holds the
            # object before lifting; in the tabletop env the fingers shut within one step either way. The timer
            # remains only as a fallback, long enough for a 0.1 m/s gripper to close 8 cm.
            if not (self.get(obs, "gripper_qpos").sum() < self.grip_width + 0.006 or self.timeout(20)):
                return self.move(obs, pos, yaw, gripper=1.0, max_speed=0.2)
            self.goto("lift")  # and lift from this very observation
        held = self.get(obs, "gripper_qpos").sum() > 0.005  # fingers stopped on the object, not closed on air
        if self.phase in ("lift", "carry", "lower") and not held:
            self.goto("above")
            return self.move(obs, eef + [0, 0, 0.05], yaw, gripper=-1.0)
        return self.after_grasp(obs, pos, yaw)

    def after_grasp(self, obs, pos, yaw):
        raise NotImplementedError


class LiftExpert(PickExpert):
    def after_grasp(self, obs, pos, yaw):
        eef = self.get(obs, "eef_pos")
        return self.move(obs, [eef[0], eef[1], 0.2], yaw, gripper=1.0, max_speed=0.6)


class PlaceExpert(PickExpert):
    """Carry the grasped object above a place point, lower it, release, retreat."""

    def released(self, obs) -> bool:
        """The fingers have opened clear of the object: 7 of the hand's 8 cm (rising with them barely wider than
        the object could tip a stack), or 2 cm wider than an object wider than 5 cm."""
        return bool(self.get(obs, "gripper_qpos").sum() > min(max(self.grip_width + 0.02, 0.07), 0.078))

    def place_target(self, obs) -> np.ndarray:
        """Where the grip site should be when the object is let go."""
        raise NotImplementedError

    def after_grasp(self, obs, pos, yaw):
        eef = self.get(obs, "eef_pos")
        place = self.place_target(obs)
        if self.phase == "lower" and np.linalg.norm(eef[:2] - place[:2]) > 0.03:
            self.goto("carry")  # drifted off the place point: carry again
        if self.phase == "lift":
            if not (eef[2] > self.carry_height - 0.02 or self.timeout(30)):
                return self.move(obs, [eef[0], eef[1], self.carry_height], yaw, gripper=1.0, max_speed=0.8)
            self.goto("carry")
        if self.phase == "carry":
            target = [place[0], place[1], max(self.carry_height, place[2] + 0.05)]
            if not (np.linalg.norm(eef[:2] - place[:2]) < 0.012 or self.timeout(60)):
                return self.move(obs, target, yaw, gripper=1.0, max_speed=0.8, approach=True)
            self.goto("lower")
        if self.phase == "lower":
            if abs(eef[2] - place[2]) < 0.006 or self.timeout(40):
                self.goto("release")  # and open from this very observation (below): the observation decides
            if self.phase != "release":
                return self.move(obs, place, yaw, gripper=1.0, gain=0.7, max_speed=0.5, approach=True)
        if self.phase == "release":
            # Retreat once the fingers have let go (visible), not after a timer the observation does not show:
            # the frames of a still, open hand are the same before and after it (issue 18).
            if not (self.released(obs) or self.timeout(20)):
                return self.move(obs, eef, yaw, gripper=-1.0)
            self.goto("retreat")
        target = [eef[0], eef[1], place[2] + 0.12]
        return self.move(obs, target, yaw, gripper=-1.0, max_speed=0.6)


class PickPlaceExpert(PlaceExpert):
    def place_target(self, obs):
        return self.get(obs, "region_pos") + [0, 0, self.half + 0.008]


class StackExpert(PlaceExpert):
    obj = "cube_red"
    half = 0.02
    blue_half = 0.025

    def place_target(self, obs):
        return self.get(obs, "cube_blue_pos") + [0, 0, self.blue_half + self.half + 0.006]


class PushExpert(ScriptedExpert):
    """Close the gripper into a paddle, get behind the cube on the line to the region, push along it."""

    phases = ("above", "descend", "push", "retreat")
    half = 0.02
    paddle = 0.012  # half-thickness of the closed fingers along the push direction (m)
    push_height = 0.015
    push_speed = 0.5  # top speed of the shove (action units, x max_step_m a step); a diagnosis varies it
    push_lead = 0.04  # how far ahead of the cube the shove aims (m)

    def pushed_pos(self, obs) -> np.ndarray:
        """Position of the object to push (world, m); the Push task's cube."""
        return self.get(obs, "cube_pos")

    def goal_xy(self, obs) -> np.ndarray:
        """Where to push it (world xy, m); the Push task's region centre."""
        return self.get(obs, "region_pos")[:2]

    def _act(self, obs):
        cube = self.pushed_pos(obs)
        eef = self.get(obs, "eef_pos")
        to_goal = self.goal_xy(obs) - cube[:2]
        dist = np.linalg.norm(to_goal)
        d = to_goal / (dist + 1e-9)
        # Yaw so that the closed fingers' broad side (grip y) faces the push direction.
        yaw = float(np.arctan2(d[1], d[0]))
        yaw = (yaw + np.pi / 2) % np.pi - np.pi / 2
        behind = np.array([*(cube[:2] - (self.half + self.paddle + 0.015) * d), self.push_height])
        if self.phase == "descend" and np.linalg.norm(eef[:2] - behind[:2]) > 0.025:
            self.goto("above")  # each switch acts on the observation that triggers it
        if self.phase == "above":
            target = behind + [0, 0, 0.07]
            if not (self.near(obs, target, 0.012) or self.timeout(60)):
                return self.move(obs, target, yaw, gripper=1.0, approach=True)
            self.goto("descend")
        if self.phase == "descend":
            if not (abs(eef[2] - self.push_height) < 0.008 or self.timeout(30)):
                return self.move(obs, behind, yaw, gripper=1.0, gain=0.8, approach=True)
            self.goto("push")
        if self.phase == "push":
            if dist < 0.012:
                # Freeze the yaw: near the goal the cube-to-region direction is noise, and turning the hand
                # at push height could knock the cube out again.
                self.memory["retreat_yaw"] = yaw
                self.goto("retreat")
            rel = cube[:2] - eef[:2]
            lateral = rel - np.dot(rel, d) * d
            # Lost the cube (it slid sideways or we are in front of it): lift and approach again.
            if np.linalg.norm(lateral) > 0.02 or np.dot(rel, d) < 0:
                self.goto("above")
                return self.move(obs, eef + [0, 0, 0.06], yaw, gripper=1.0)
            target_xy = cube[:2] - (self.half + self.paddle) * d + min(dist, self.push_lead) * d + 0.8 * lateral
            target = np.array([*target_xy, self.push_height])
            return self.move(obs, target, yaw, gripper=1.0, gain=0.8, max_speed=self.push_speed)
        return self.move(obs, [eef[0], eef[1], 0.15], self.memory.get("retreat_yaw", yaw), gripper=1.0, max_speed=0.5)


class DrawerExpert(ScriptedExpert):
    """Grasp the drawer's vertical handle bar from above and pull it out along -x."""

    phases = ("above", "descend", "close", "pull", "release", "retreat")
    pull_distance = 0.15
    handle_width = 0.016  # the handle bar between the fingers (m; scene.py: a 16 mm square bar)

    drawer = "cabinet"  # the drawer's name in the observation (``<drawer>_handle_pos``, ``<drawer>_opening``)

    def retreat_target(self, eef: np.ndarray, handle: np.ndarray) -> np.ndarray:
        """Where the hand goes once it has let go: 5 cm up from where it is."""
        return eef + [0, 0, 0.05]

    def _act(self, obs):
        handle = self.get(obs, f"{self.drawer}_handle_pos")  # top of the handle bar
        opening = float(self.get(obs, f"{self.drawer}_opening")[0])
        eef = self.get(obs, "eef_pos")
        grip = float(self.get(obs, "gripper_qpos").sum())
        grasp = handle + [0, 0, -0.018]
        # Each switch acts on the observation that triggers it, and on what the observation shows (the fingers
        # closed on the bar, opened off it), not on a timer; timers are fallbacks (``timeout``).
        if self.phase == "pull" and grip < 0.004:  # slipped off the handle
            self.goto("above")
        if self.phase == "above":
            target = grasp + [0, 0, 0.07]
            if not (self.near(obs, target, 0.012) or self.timeout(60)):
                return self.move(obs, target, approach=True)
            self.goto("descend")
        if self.phase == "descend":
            if not (abs(eef[2] - grasp[2]) < 0.006 or self.timeout(40)):
                return self.move(obs, grasp, gain=0.8, approach=True)
            self.goto("close")
        if self.phase == "close":
            if not (grip < self.handle_width + 0.006 or self.timeout(20)):
                return self.move(obs, grasp, gripper=1.0, max_speed=0.2)
            self.goto("pull")
        if self.phase == "pull":
            if not (opening > self.pull_distance - 0.005 or self.timeout(60)):
                return self.move(obs, grasp + [-0.04, 0, 0], gripper=1.0, max_speed=0.4)
            self.goto("release")
        if self.phase == "release":
            if not (grip > self.handle_width + 0.02 or self.timeout(20)):
                return self.move(obs, eef, gripper=-1.0)
            self.goto("retreat")
        return self.move(obs, self.retreat_target(eef, handle), gripper=-1.0, max_speed=0.5)


EXPERTS: dict[str, type[ScriptedExpert]] = {
    "reach": ReachExpert,
    "push": PushExpert,
    "lift": LiftExpert,
    "pick_place": PickPlaceExpert,
    "stack": StackExpert,
    "drawer": DrawerExpert,
}


def make_expert(env) -> ScriptedExpert:
    """The scripted expert for ``env``'s task (env may be wrapped). Needs the ``ee_delta`` controller."""
    base = env.unwrapped
    task_name = getattr(base, "task_name", None)
    if task_name not in EXPERTS:
        raise KeyError(f"no scripted expert for task {task_name!r}; experts exist for: {', '.join(EXPERTS)}")
    cfg = base.config
    if getattr(cfg, "controller", "ee_delta") != "ee_delta":
        raise ValueError(f"scripted experts emit ee_delta actions; this env uses controller={cfg.controller!r}")
    return EXPERTS[task_name](base.obs_layout, cfg.max_ee_step_m, cfg.max_ee_rot_rad)
