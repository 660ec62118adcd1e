"""A scripted "player" for the play scene: long unsegmented streams of random primitives, without labels.

The player chains primitives (reach a random point, push an object in a random direction, grasp + lift
+ put back, pick + place at a random spot or in the region, stack a cube on the other cube, open the
drawer, close the drawer, pause; "home", weight 0 unless asked for: back up near the episode's start
pose), each with random targets, random speed and Gaussian action noise. Every
primitive is a small phase machine built on :class:`~skill_rl.envs.tabletop.experts.ScriptedExpert`
(proportional control of the grip site, obs-only: it reads the observation vector through the env's
``obs_layout``) and has a step budget: when it runs out, the player simply moves on, so it never gets stuck.

The primitive sequence is kept only as optional debug metadata (:attr:`Player.log`); play data has no task
labels.

Usage::

    env = skill_rl.envs.make("TabletopPlay-v0")
    player = Player.for_env(env, rng=np.random.default_rng(0))
    obs, _ = env.reset(seed=0)
    player.reset()
    action = player.act(obs)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from skill_rl.envs.tabletop.experts import (
    DrawerExpert,
    PlaceExpert,
    PushExpert,
    ScriptedExpert,
)
from skill_rl.envs.tabletop.play import (
    CYLINDER_RADIUS,
    FREE_OBJECTS,
    HANDLE_OFFSET,
    OBJECT_HALF_HEIGHT,
    cabinet_keepout,
)

__all__ = ["BEHAVIOURS", "Player", "PlayerConfig"]

BEHAVIOURS = ("reach", "push", "lift", "place", "stack", "open_drawer", "close_drawer", "pause", "home")
# Where random targets go (world xy, m): the reachable part of the table.
SPOT_LOW = np.array([-0.14, -0.22])
SPOT_HIGH = np.array([0.14, 0.22])


@dataclass
class PlayerConfig:
    """How the player plays. Weights need not sum to 1; a primitive with weight 0 is never chosen."""

    weights: dict[str, float] | None = None  # primitive -> weight; None: DEFAULT_WEIGHTS
    action_noise: float = 0.1  # std of Gaussian noise on the 6 motion dims of every action (in action units)
    speed_range: tuple[float, float] = (0.5, 1.0)  # per-primitive max speed, uniform in this range
    pause_steps: tuple[int, int] = (3, 20)  # length of a pause primitive (steps)
    timeout_scale: float = 1.0  # multiplies every primitive's step budget

    def __post_init__(self) -> None:
        weights = self.weights if self.weights is not None else DEFAULT_WEIGHTS
        unknown = sorted(set(weights) - set(BEHAVIOURS))
        if unknown:
            raise ValueError(f"unknown primitive(s) {unknown} in weights; known: {', '.join(BEHAVIOURS)}")
        if not any(w > 0 for w in weights.values()) or any(w < 0 for w in weights.values()):
            raise ValueError(f"primitive weights must be >= 0 with at least one > 0, got {weights}")
        if self.action_noise < 0:
            raise ValueError(f"action_noise must be >= 0, got {self.action_noise}")


DEFAULT_WEIGHTS = {
    "reach": 1.0, "push": 2.0, "lift": 1.0, "place": 2.0, "stack": 1.5, "open_drawer": 1.0, "close_drawer": 1.0,
    "pause": 0.5, "home": 0.0,
}
# Step budget of each primitive at timeout_scale 1 (20 Hz: 100 steps = 5 s).
TIMEOUTS = {
    "reach": 40, "push": 120, "lift": 140, "place": 200, "stack": 200, "open_drawer": 150, "close_drawer": 150,
    "pause": 20, "home": 60,
}


class _Renamed:
    """Mixin: read ``cube_*`` / ``region_pos`` fields as another object's fields / a goal point in memory."""

    obj_name = "cube"
    goal: np.ndarray

    def get(self, obs, name):  # type: ignore[override]
        if name == "region_pos":
            return self.goal
        if name.startswith("cube_") and self.obj_name != "cube" and not name.startswith(self.obj_name):
            name = self.obj_name + name[len("cube"):]
        return ScriptedExpert.get(self, obs, name)  # type: ignore[arg-type]


def _grip_width(obj: str) -> float:
    """The object's width between the fingers (m): the pick experts lift once the fingers have closed to it."""
    return 2 * CYLINDER_RADIUS if obj == "cylinder" else 2 * OBJECT_HALF_HEIGHT[obj]


class ReachPrim(ScriptedExpert):
    phases = ("reach",)

    def __init__(self, layout, max_step, max_rot, target, yaw, gripper):
        super().__init__(layout, max_step, max_rot)
        self.target, self.yaw, self.gripper = target, yaw, gripper

    def _act(self, obs):  # (the player scales every primitive's motion by its random speed)
        return self.move(obs, self.target, self.yaw, gripper=self.gripper)

    def finished(self, obs) -> bool:
        return self.near(obs, self.target, 0.015)


class PausePrim(ScriptedExpert):
    phases = ("pause",)

    def __init__(self, layout, max_step, max_rot, gripper):
        super().__init__(layout, max_step, max_rot)
        self.gripper = gripper

    def _act(self, obs):
        return np.array([0, 0, 0, 0, 0, 0, self.gripper], dtype=np.float32)

    def finished(self, obs) -> bool:
        return False  # ends by its budget


class PushPrim(_Renamed, PushExpert):
    """Push ``obj`` towards ``goal`` (a point on the table); ends once retreated."""

    def __init__(self, layout, max_step, max_rot, obj, goal):
        self.obj_name, self.goal = obj, goal
        self.half = CYLINDER_RADIUS if obj == "cylinder" else OBJECT_HALF_HEIGHT[obj]
        PushExpert.__init__(self, layout, max_step, max_rot)

    def finished(self, obs) -> bool:
        return self.phase == "retreat" and self.timer > 10


class LiftPrim(_Renamed, PlaceExpert):
    """Grasp ``obj``, lift it to a random height, hold it a moment, put it back down where it was."""

    def __init__(self, layout, max_step, max_rot, obj, place_xy, carry_height, hold_steps):
        self.obj_name, self.obj = obj, obj
        self.half = OBJECT_HALF_HEIGHT[obj]
        self.grip_width = _grip_width(obj)
        self.carry_height = carry_height
        self.place_xy = place_xy
        self.hold_steps = hold_steps
        PlaceExpert.__init__(self, layout, max_step, max_rot)

    def place_target(self, obs):
        return np.array([*self.place_xy, self.half + 0.008])

    def after_grasp(self, obs, pos, yaw):
        if self.phase == "carry" and self.timer <= self.hold_steps:  # hold it up for a moment
            eef = self.get(obs, "eef_pos")
            return self.move(obs, [eef[0], eef[1], self.carry_height], yaw, gripper=1.0, max_speed=0.6)
        return PlaceExpert.after_grasp(self, obs, pos, yaw)

    def finished(self, obs) -> bool:
        return self.phase == "retreat" and self.timer > 8


class PlacePrim(_Renamed, PlaceExpert):
    """Pick ``obj`` and place it at ``goal`` (xy; on the table or on top of another object ``onto``)."""

    def __init__(self, layout, max_step, max_rot, obj, goal_xy, onto=None, carry_height=0.15):
        self.obj_name, self.obj = obj, obj
        self.half = OBJECT_HALF_HEIGHT[obj]
        self.grip_width = _grip_width(obj)
        self.goal_xy, self.onto, self.carry_height = goal_xy, onto, carry_height
        PlaceExpert.__init__(self, layout, max_step, max_rot)

    def place_target(self, obs):
        if self.onto is not None:
            base = ScriptedExpert.get(self, obs, f"{self.onto}_pos")
            return base + [0, 0, OBJECT_HALF_HEIGHT[self.onto] + self.half + 0.006]
        return np.array([*self.goal_xy, self.half + 0.008])

    def finished(self, obs) -> bool:
        return self.phase == "retreat" and self.timer > 8


class DrawerPrim(DrawerExpert):
    """Grasp the handle and pull (open) or push (close) the drawer to ``target`` opening (m)."""

    def __init__(self, layout, max_step, max_rot, target: float, opening_now: float):
        super().__init__(layout, max_step, max_rot)
        self.target = target
        self.sign = -1.0 if target > opening_now else 1.0  # -x opens, +x closes

    def _act(self, obs):
        if self.phase != "pull":
            return super()._act(obs)
        handle = self.get(obs, "cabinet_handle_pos")
        opening = float(self.get(obs, "cabinet_opening")[0])
        grasp = handle + [0, 0, -0.018]
        reached = opening >= self.target - 0.005 if self.sign < 0 else opening <= self.target + 0.005
        if reached or self.timer > 60:
            self.goto("release")
        if self.get(obs, "gripper_qpos").sum() < 0.004:  # slipped off the handle
            self.goto("above")
        return self.move(obs, grasp + [0.04 * self.sign, 0, 0], gripper=1.0, max_speed=0.4)

    def finished(self, obs) -> bool:
        return self.phase == "retreat" and self.timer > 8


class Player:
    """Chains random primitives forever; call :meth:`reset` at every env reset and :meth:`act` every step.

    ``rng`` drives every random choice (primitive, object, targets, noise), so a seeded player on a seeded
    env gives the same stream. :attr:`log` lists ``(start_step, primitive, argument)`` for debugging only.
    """

    def __init__(self, layout: dict[str, slice], max_step_m: float, max_rot_rad: float,
                 rng: np.random.Generator, config: PlayerConfig | None = None):
        self.layout = layout
        self.max_step, self.max_rot = max_step_m, max_rot_rad
        self.rng = rng
        self.config = config or PlayerConfig()
        weights = self.config.weights if self.config.weights is not None else DEFAULT_WEIGHTS
        self._names = [p for p in BEHAVIOURS if weights.get(p, 0.0) > 0]
        w = np.array([weights[p] for p in self._names], dtype=np.float64)
        self._probs = w / w.sum()
        missing = [k for k in ("eef_pos", "eef_quat", "gripper_qpos", "cabinet_opening", "cabinet_handle_pos",
                               *(f"{o}_pos" for o in FREE_OBJECTS), "region_pos") if k not in layout]
        if missing:
            raise ValueError(f"the player needs the play scene's observation fields; missing {missing}")
        self.reset()

    @classmethod
    def for_env(cls, env: Any, rng: np.random.Generator, config: PlayerConfig | None = None) -> Player:
        base = env.unwrapped
        if base.config.controller != "ee_delta":
            raise ValueError(f"the player emits ee_delta actions; this env uses controller={base.config.controller!r}")
        return cls(base.obs_layout, base.config.max_ee_step_m, base.config.max_ee_rot_rad, rng, config)

    def reset(self) -> None:
        self.current: Any = None
        self.current_name = ""
        self.budget = 0
        self.steps = 0
        self.speed = 1.0
        self.log: list[tuple[int, str, str]] = []
        self.counts: dict[str, int] = {p: 0 for p in BEHAVIOURS}
        self.timeouts: dict[str, int] = {p: 0 for p in BEHAVIOURS}
        self.home: np.ndarray | None = None  # the grip site at the episode's first step ("home" goes back near it)
        self.intended = np.zeros(7, np.float32)  # the last action without its noise (see act)
        # segments that did what they were for (see segment_succeeded), per primitive; pauses are not counted
        self.successes: dict[str, int] = {p: 0 for p in BEHAVIOURS}
        self.ended: dict[str, int] = {p: 0 for p in BEHAVIOURS}  # segments judged (the last one may still run)
        self._seg_start: np.ndarray | None = None
        self._seg_max_z = -np.inf

    # ----------------------------------------------------------------- choosing
    def _get(self, obs: np.ndarray, name: str) -> np.ndarray:
        return np.asarray(obs[self.layout[name]], dtype=np.float64)

    def _keepout(self, obs) -> tuple[np.ndarray, np.ndarray]:
        handle = self._get(obs, "cabinet_handle_pos")
        opening = float(self._get(obs, "cabinet_opening")[0])
        cabinet_xy = np.array([handle[0] + HANDLE_OFFSET + opening, handle[1]])
        return cabinet_keepout(cabinet_xy)

    def _free_spot(self, obs, avoid: list[np.ndarray], min_dist: float = 0.07) -> np.ndarray | None:
        low, high = self._keepout(obs)
        for _ in range(100):
            p = self.rng.uniform(SPOT_LOW, SPOT_HIGH)
            if np.all(p >= low) and np.all(p <= high):
                continue
            if all(np.linalg.norm(p - a[:2]) >= min_dist for a in avoid):
                return p
        return None

    def _reachable(self, obs, name: str) -> bool:
        """On the table (not fallen off), inside the reachable area, not inside the cabinet."""
        pos = self._get(obs, f"{name}_pos")
        low, high = self._keepout(obs)
        inside_cabinet = bool(np.all(pos[:2] >= low + 0.03) and np.all(pos[:2] <= high - 0.03) and pos[2] < 0.09)
        return bool(pos[2] > 0.0 and np.all(pos[:2] >= SPOT_LOW - 0.04) and np.all(pos[:2] <= SPOT_HIGH + 0.04)
                    and not inside_cabinet)

    def _upright(self, obs, name: str) -> bool:
        """Roughly upright and resting on something (grasp from above works)."""
        q = self._get(obs, f"{name}_quat")
        tilt = 1 - 2 * (q[1] ** 2 + q[2] ** 2)  # z axis' z component
        return bool(tilt > 0.9)

    def _start(self, obs) -> None:
        args = (self.layout, self.max_step, self.max_rot)
        cfg = self.config
        objects = [o for o in FREE_OBJECTS if self._reachable(obs, o)]
        positions = [self._get(obs, f"{o}_pos") for o in FREE_OBJECTS]
        self.speed = float(self.rng.uniform(*cfg.speed_range))
        for _ in range(10):  # retry when the drawn primitive is impossible right now
            name = str(self.rng.choice(self._names, p=self._probs))
            prim: Any = None
            arg = ""
            if name == "reach":
                xy = self.rng.uniform(SPOT_LOW, SPOT_HIGH)
                target = np.array([*xy, self.rng.uniform(0.05, 0.3)])
                prim = ReachPrim(*args, target, float(self.rng.uniform(-0.7, 0.7)),
                                 float(self.rng.choice([-1.0, 1.0])))
                arg = np.array2string(target, precision=2)
            elif name == "pause":
                prim = PausePrim(*args, gripper=float(self.rng.choice([-1.0, 1.0])))
            elif name == "home" and self.home is not None:
                # back up near the episode's start pose, gripper open: the state every task episode starts in
                target = self.home + self.rng.uniform([-0.05, -0.08, -0.05], [0.05, 0.08, 0.0])
                prim = ReachPrim(*args, target, 0.0, -1.0)
                arg = np.array2string(target, precision=2)
            elif name == "push" and objects:
                # a cylinder lying on its side would roll away (off the table): push it only upright
                pushable = [o for o in objects if o != "cylinder" or self._upright(obs, o)]
                if not pushable:
                    continue
                obj = str(self.rng.choice(pushable))
                pos = self._get(obs, f"{obj}_pos")
                for _ in range(20):
                    angle = self.rng.uniform(-np.pi, np.pi)
                    goal = pos[:2] + self.rng.uniform(0.05, 0.15) * np.array([np.cos(angle), np.sin(angle)])
                    low, high = self._keepout(obs)
                    if np.all(goal >= SPOT_LOW) and np.all(goal <= SPOT_HIGH) and not (
                        np.all(goal >= low) and np.all(goal <= high)
                    ):
                        prim = PushPrim(*args, obj, np.array([*goal, 0.0]))
                        arg = obj
                        break
            elif name in ("lift", "place") and objects:
                candidates = [o for o in objects if self._upright(obs, o)]
                if candidates:
                    obj = str(self.rng.choice(candidates))
                    pos = self._get(obs, f"{obj}_pos")
                    if name == "lift":
                        prim = LiftPrim(*args, obj, pos[:2].copy(), float(self.rng.uniform(0.1, 0.22)),
                                        int(self.rng.integers(0, 15)))
                        arg = obj
                    else:
                        others = [p for o, p in zip(FREE_OBJECTS, positions, strict=True) if o != obj]
                        if self.rng.random() < 0.35:  # into the region
                            region = self._get(obs, "region_pos")[:2]
                            goal = region + self.rng.uniform(-0.025, 0.025, size=2)
                            arg = f"{obj}->region"
                        else:
                            goal = self._free_spot(obs, others)
                            arg = f"{obj}->spot"
                        if goal is not None:
                            prim = PlacePrim(*args, obj, goal, carry_height=float(self.rng.uniform(0.12, 0.18)))
            elif name == "stack":
                cubes = [o for o in ("cube_red", "cube_blue") if o in objects and self._upright(obs, o)]
                if len(cubes) == 2:
                    top = "cube_red" if self.rng.random() < 0.75 else "cube_blue"
                    bottom = "cube_blue" if top == "cube_red" else "cube_red"
                    prim = PlacePrim(*args, top, None, onto=bottom)
                    arg = f"{top}->{bottom}"
            elif name in ("open_drawer", "close_drawer"):
                opening = float(self._get(obs, "cabinet_opening")[0])
                if name == "open_drawer" and opening < 0.1:
                    target = float(self.rng.uniform(max(opening + 0.04, 0.08), 0.15))
                elif name == "close_drawer" and opening > 0.03:
                    target = float(self.rng.uniform(0.0, min(opening - 0.03, 0.04)))
                else:
                    continue
                prim = DrawerPrim(*args, target=target, opening_now=opening)
                arg = f"{opening:.2f}->{target:.2f}"
            if prim is not None:
                break
        else:
            name, arg = "pause", ""
            prim = PausePrim(*args, gripper=-1.0)
        self.current, self.current_name = prim, name
        lo, hi = cfg.pause_steps
        budget = int(self.rng.integers(lo, hi + 1)) if name == "pause" else TIMEOUTS[name]
        self.budget = max(1, int(round(budget * (1.0 if name == "pause" else cfg.timeout_scale / min(self.speed, 1.0)))))
        self.counts[name] += 1
        self.log.append((self.steps, name, arg))

    def segment_succeeded(self, obs: np.ndarray) -> bool | None:
        """Whether the current segment, ending at ``obs``, did what it was drawn for (None: a pause, which has
        no goal): a reach got within 3 cm; a push moved its object at least half the planned distance towards
        the goal; a lift raised its object 5 cm; a place left it within 3 cm of the goal (a stack: on the other
        cube); a drawer move opened (closed) it to within 2 cm of its target opening or beyond."""
        prim, name, start = self.current, self.current_name, self._seg_start
        if prim is None or start is None or name == "pause":
            return None
        if name in ("reach", "home"):
            return bool(np.linalg.norm(self._get(obs, "eef_pos") - prim.target) < 0.03)
        if name in ("open_drawer", "close_drawer"):  # opened (closed) at least to 2 cm short of its target
            return bool(prim.sign * (float(self._get(obs, "cabinet_opening")[0]) - prim.target) <= 0.02)
        obj = prim.obj_name
        pos, pos0 = self._get(obs, f"{obj}_pos"), self._get(start, f"{obj}_pos")
        if name == "push":
            planned = prim.goal[:2] - pos0[:2]
            dist = float(np.linalg.norm(planned))
            return bool(np.dot(pos[:2] - pos0[:2], planned / max(dist, 1e-9)) >= 0.5 * dist)
        if name == "lift":
            return bool(self._seg_max_z - pos0[2] >= 0.05)
        if prim.onto is not None:  # stack
            below = self._get(obs, f"{prim.onto}_pos")
            return bool(np.linalg.norm(pos[:2] - below[:2]) < 0.03 and pos[2] > below[2] + 0.02)
        return bool(np.linalg.norm(pos[:2] - prim.goal_xy) < 0.03)

    def _end_segment(self, obs: np.ndarray) -> None:
        ok = self.segment_succeeded(obs)
        if ok is not None:
            self.ended[self.current_name] += 1
            self.successes[self.current_name] += int(ok)
        self.current = None

    # ----------------------------------------------------------------- acting
    def act(self, obs: np.ndarray) -> np.ndarray:
        """The next ee_delta action to execute (float32, in [-1, 1]) for observation ``obs``: the primitive's
        action with the motion noise. :attr:`intended` keeps the same action without the noise (what a DART
        recording stores as the label: the primitive corrects the noise's drift at the next steps)."""
        obs = np.asarray(obs, dtype=np.float64)
        if self.steps == 0:
            self.home = self._get(obs, "eef_pos").copy()
        if self.current is not None:
            if self.current.finished(obs):
                self._end_segment(obs)
            elif self.budget <= 0:
                if self.current_name != "pause":  # a pause always ends by its budget
                    self.timeouts[self.current_name] += 1
                self._end_segment(obs)
            elif self.current_name == "lift":
                self._seg_max_z = max(self._seg_max_z, float(self._get(obs, f"{self.current.obj_name}_pos")[2]))
        if self.current is None:
            self._start(obs)
            self._seg_start, self._seg_max_z = obs.copy(), -np.inf
        self.budget -= 1
        self.steps += 1
        action = np.array(self.current.act(obs), dtype=np.float64)
        action[:3] *= self.speed
        self.intended = np.clip(action, -1.0, 1.0).astype(np.float32)
        if self.config.action_noise > 0:
            action[:6] += self.rng.normal(0.0, self.config.action_noise, size=6)
        return np.clip(action, -1.0, 1.0).astype(np.float32)
