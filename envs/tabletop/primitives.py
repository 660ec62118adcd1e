"""Parametrised scripted primitives for any tabletop scene, and a scripted plan + demonstrator for task specs.

The experts in ``experts.py`` solve one fixed task each; these are the same phase machines with their
object names as parameters (``pick_place(obj="cube_red", target="cube_blue")``), so a planner can chain
them over any task scene. They read only the flat observation through ``env.obs_layout`` and emit
``ee_delta`` actions, so they also run on learned-skill-compatible envs and on the pybullet twin.

A primitive has ``reset()``, ``act(obs) -> action``, ``done(obs) -> bool`` (it has finished its motion; not
whether it succeeded: the caller checks the predicates) and ``horizon`` (a step budget).

``scripted_plan(spec)`` orders primitives that achieve a task's goal atoms (open drawers first, supports
before what is stacked on them, closes after whatever goes into the drawer, lifts last), and
:class:`ScriptedDemonstrator` runs that plan closed-loop, skipping steps whose effect already holds and
retrying a step whose effect did not come true (the demonstration source for lifelong suites).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .experts import LiftExpert, PlaceExpert, PushExpert, ScriptedExpert, yaw_of
from .play import HANDLE_OFFSET
from .predicates import DRAWER_CLOSED_M, holds

__all__ = [
    "PRIMITIVES", "PlanStep", "Primitive", "ScriptedDemonstrator", "hold_still", "make_primitive", "primitive_effects",
    "scripted_plan", "scripted_steps",
]

Atom = tuple[str, ...]
_FREE = ("cube", "cylinder")


class Primitive(ScriptedExpert):
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
        super().__init__(base.obs_layout, cfg.max_ee_step_m, cfg.max_ee_rot_rad)

    def kind(self, name: str) -> str:
        return self.objects[name].kind

    def half_of(self, name: str) -> float:
        """Half the height of object ``name`` (m): a cube's half size, a cylinder's half length."""
        spec = self.objects[name]
        return float(spec.size[0] if spec.kind == "cube" else spec.size[1])

    def done(self, obs: np.ndarray) -> bool:
        return self.finished(np.asarray(obs, dtype=np.float64))

    def finished(self, obs: np.ndarray) -> bool:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.name}({args})"


class PickPlace(Primitive, PlaceExpert):
    """Grasp ``obj`` from above and put it on ``target``: a cube/cylinder (stack), a region, or a drawer's tray."""

    name = "pick_place"
    horizon = 300

    def __init__(self, env: Any, obj: str, target: str) -> None:
        super().__init__(env, obj=obj, target=target)
        self.obj, self.target = obj, target
        self.half = self.half_of(obj)

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
        return bool(self.get(obs, "eef_pos")[2] > self.place_target(obs)[2] + 0.09 or self.timer > 30)


class Lift(Primitive, LiftExpert):
    """Grasp ``obj`` and lift it until its centre is 13 cm above the table (Lifted holds above 10 cm)."""

    name = "lift"
    horizon = 200

    def __init__(self, env: Any, obj: str) -> None:
        super().__init__(env, obj=obj)
        self.obj = obj
        self.half = self.half_of(obj)

    def finished(self, obs):
        held = self.get(obs, "gripper_qpos").sum() > 0.005
        return bool(self.phase == "lift" and held and self.get(obs, f"{self.obj}_pos")[2] > 0.13)


class Reach(Primitive):
    """Move the grip site to ``xyz`` (world, m) with the gripper open and pointing down."""

    name = "reach"
    horizon = 80
    phases = ("reach",)

    def __init__(self, env: Any, xyz: Sequence[float]) -> None:
        point = np.asarray(xyz, dtype=np.float64)
        if point.shape != (3,):
            raise ValueError(f"reach: xyz must be 3 numbers (m, world), got {point.tolist()}")
        super().__init__(env, xyz=point.tolist())
        self.xyz = point

    def _act(self, obs):
        return self.move(obs, self.xyz, gain=0.9)

    def finished(self, obs):
        return self.near(obs, self.xyz, 0.01)


class Push(Primitive, PushExpert):
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

    def pushed_pos(self, obs) -> np.ndarray:
        return self.get(obs, f"{self.obj}_pos")

    def goal_xy(self, obs) -> np.ndarray:
        if isinstance(self.target_xy, str):
            return self.get(obs, f"{self.target_xy}_pos")[:2]
        return np.asarray(self.target_xy, dtype=np.float64)

    def finished(self, obs):
        return bool(self.phase == "retreat" and (self.get(obs, "eef_pos")[2] > 0.1 or self.timer > 25))


class OpenDrawer(Primitive):
    """Grasp the drawer's vertical handle bar from above and pull it out along -x, then let go and back off."""

    name = "open_drawer"
    horizon = 220
    phases = ("above", "descend", "close", "pull", "release", "retreat")
    pull_distance = 0.15

    def __init__(self, env: Any, drawer: str) -> None:
        super().__init__(env, drawer=drawer)
        if self.kind(drawer) != "drawer":
            raise ValueError(f"open_drawer: {drawer!r} is a {self.kind(drawer)}, not a drawer (cabinet)")
        self.drawer = drawer

    def _act(self, obs):
        handle = self.get(obs, f"{self.drawer}_handle_pos")
        opening = float(self.get(obs, f"{self.drawer}_opening")[0])
        eef = self.get(obs, "eef_pos")
        grasp = handle + [0, 0, -0.018]
        if self.phase == "above":
            target = grasp + [0, 0, 0.07]
            if self.near(obs, target, 0.012) or self.timer > 60:
                self.goto("descend")
            return self.move(obs, target)
        if self.phase == "descend":
            if abs(eef[2] - grasp[2]) < 0.006 or self.timer > 40:
                self.goto("close")
            return self.move(obs, grasp, gain=0.8)
        if self.phase == "close":
            if self.timer > 6:
                self.goto("pull")
            return self.move(obs, grasp, gripper=1.0, max_speed=0.2)
        if self.phase == "pull":
            if opening > self.pull_distance - 0.005 or self.timer > 60:
                self.goto("release")
            if self.get(obs, "gripper_qpos").sum() < 0.004:  # slipped off the handle
                self.goto("above")
            return self.move(obs, grasp + [-0.04, 0, 0], gripper=1.0, max_speed=0.4)
        if self.phase == "release":
            if self.timer > 4:
                self.goto("retreat")
            return self.move(obs, eef, gripper=-1.0)
        return self.move(obs, [eef[0], eef[1], handle[2] + 0.1], gripper=-1.0, max_speed=0.5)

    def finished(self, obs):
        return bool(self.phase == "retreat" and self.timer > 10)


class CloseDrawer(Primitive):
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
        if self.phase == "above":
            target = start + [0, 0, 0.08]
            if self.near(obs, target, 0.015) or self.timer > 60:
                self.goto("descend")
            return self.move(obs, target, gripper=1.0)
        if self.phase == "descend":
            if abs(eef[2] - start[2]) < 0.008 or self.timer > 40:
                self.goto("push")
            return self.move(obs, start, gripper=1.0, gain=0.8)
        if self.phase == "push":
            if opening < DRAWER_CLOSED_M * 0.4 or self.timer > 80:
                self.goto("retreat")
            target = np.array([front + 0.03, handle[1] + side, self.push_z])
            return self.move(obs, target, gripper=1.0, max_speed=0.5)
        # straight up with the fingers still closed: opening them beside the handle bar could hook it
        return self.move(obs, [eef[0], eef[1], 0.15], gripper=1.0, max_speed=0.5)

    def finished(self, obs):
        return bool(self.phase == "retreat" and (self.get(obs, "eef_pos")[2] > 0.1 or self.timer > 25))


#: name -> (class, parameter names)
PRIMITIVES: dict[str, tuple[type[Primitive], tuple[str, ...]]] = {
    "pick_place": (PickPlace, ("obj", "target")),
    "push": (Push, ("obj", "target_xy")),
    "open_drawer": (OpenDrawer, ("drawer",)),
    "close_drawer": (CloseDrawer, ("drawer",)),
    "reach": (Reach, ("xyz",)),
    "lift": (Lift, ("obj",)),
}


def make_primitive(env: Any, name: str, **params: Any) -> Primitive:
    """The scripted primitive ``name`` bound to ``params`` for ``env`` (may be wrapped; needs ``ee_delta``).

    Raises KeyError listing the primitives for an unknown name, and ValueError for missing or unknown
    parameters or objects that are not in the scene.
    """
    if name not in PRIMITIVES:
        raise KeyError(f"unknown primitive {name!r}; available: {', '.join(PRIMITIVES)}")
    cls, args = PRIMITIVES[name]
    missing = [a for a in args if a not in params]
    extra = [k for k in params if k not in args]
    if missing or extra:
        raise ValueError(f"{name} takes ({', '.join(args)}); missing: {missing or 'none'}, unknown: {extra or 'none'}")
    objects = {o.name: o.kind for o in env.unwrapped.task.objects}
    for key in ("obj", "target", "drawer"):
        if key in params and params[key] not in objects:
            raise ValueError(f"{name}: {key}={params[key]!r} is not in this scene; objects: {', '.join(objects)}")
    if "obj" in params and objects[params["obj"]] not in _FREE:
        raise ValueError(f"{name}: obj={params['obj']!r} is a {objects[params['obj']]}; only cubes and cylinders move")
    if isinstance(params.get("target_xy"), str) and params["target_xy"] not in objects:
        raise ValueError(f"{name}: target_xy={params['target_xy']!r} is not in this scene; objects: {', '.join(objects)}")
    return cls(env, **params)


# ------------------------------------------------------------------------------------------ scripted plans
@dataclass(frozen=True)
class PlanStep:
    """One primitive call of a plan and the atoms it is meant to make true."""

    primitive: str
    params: dict[str, Any]
    effects: tuple[Atom, ...]

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.primitive}({args})"


def primitive_effects(primitive: str, params: dict[str, Any], kinds: dict[str, str]) -> tuple[Atom, ...]:
    """Declared effects of a scripted primitive call (the symbolic layer's add-list)."""
    if primitive == "pick_place":
        obj, target = params["obj"], params["target"]
        return (("InDrawer", obj, target),) if kinds.get(target) == "drawer" else (("On", obj, target),)
    if primitive == "push":
        target = params["target_xy"]
        return (("In", params["obj"], target),) if isinstance(target, str) else ()
    if primitive == "open_drawer":
        return (("Open", params["drawer"]),)
    if primitive == "close_drawer":
        return (("Close", params["drawer"]),)
    if primitive == "lift":
        return (("Lifted", params["obj"]),)
    return ()


def _achiever(atom: Atom, kinds: dict[str, str]) -> tuple[str, dict[str, Any]] | None:
    name = atom[0]
    if name in ("On", "In"):
        return "pick_place", {"obj": atom[1], "target": atom[2]}
    if name == "InDrawer":
        return "pick_place", {"obj": atom[1], "target": atom[2]}
    if name == "Open":
        return "open_drawer", {"drawer": atom[1]}
    if name in ("Close", "Closed"):
        return "close_drawer", {"drawer": atom[1]}
    if name in ("Lifted", "Grasped"):
        return "lift", {"obj": atom[1]}
    return None  # OnTable: a condition the plan keeps (nothing is placed on the table on purpose)


def scripted_steps(spec: Any) -> list[PlanStep]:
    """Primitive calls, in order, whose declared effects cover ``spec``'s goal atoms.

    Order: drawers that something goes into (or that must end open) are opened first; objects are placed
    supports-first (an object is moved before anything is put on it); drawers are closed after their
    contents are in; lifts come last (one hand).
    """
    kinds = {o.name: o.kind for o in spec.objects}
    goal = list(spec.goal)
    opens: list[Atom] = [a for a in goal if a[0] == "Open"]
    for a in goal:
        if a[0] == "InDrawer" and ("Open", a[2]) not in opens:
            opens.insert(0, ("Open", a[2]))
    closes = [a for a in goal if a[0] in ("Close", "Closed")]
    places = [a for a in goal if a[0] in ("On", "In", "InDrawer")]
    lifts = [a for a in goal if a[0] in ("Lifted", "Grasped")]
    # supports first: the atom that moves y comes before any atom putting something on y
    mover = {a[1]: a for a in places}
    ordered: list[Atom] = []

    def visit(atom: Atom, stack: tuple[Atom, ...] = ()) -> None:
        if atom in ordered:
            return
        if atom in stack:
            raise ValueError(f"goal places objects on each other in a cycle: {stack}")
        support = atom[2]
        if support in mover and mover[support] is not atom:
            visit(mover[support], (*stack, atom))
        ordered.append(atom)

    for atom in places:
        visit(atom)
    steps = []
    for atom in [*opens, *ordered, *closes, *lifts]:
        made = _achiever(atom, kinds)
        if made is None:
            continue
        prim, params = made
        steps.append(PlanStep(prim, params, primitive_effects(prim, params, kinds)))
    return steps


def scripted_plan(spec: Any) -> list[tuple[str, dict[str, Any]]]:
    """``[(primitive_name, params), ...]`` achieving ``spec``'s goal atoms (see :func:`scripted_steps`)."""
    return [(s.primitive, dict(s.params)) for s in scripted_steps(spec)]


class ScriptedDemonstrator:
    """Runs the scripted plan of a task scene closed-loop: ``reset()`` then ``act(obs)`` every step.

    Before a step starts, it is skipped if its effects already hold; when a step finishes (``done`` or its
    horizon) and its effects do not hold, it is retried (up to ``max_retries``), otherwise the plan moves on.
    After the last step it holds still with the gripper open. ``log`` records what happened, for debugging.
    """

    def __init__(self, env: Any, spec: Any, max_retries: int = 2,
                 make: Callable[..., Any] | None = None) -> None:
        self.env = env
        self.base = env.unwrapped
        self.spec = spec
        self.steps = scripted_steps(spec)
        self.max_retries = max_retries
        self._make = make or make_primitive
        self.reset()

    def reset(self) -> None:
        self.index = 0
        self.retries = 0
        self.steps_in_primitive = 0
        self.current: Any = None
        self.log: list[str] = []

    @property
    def finished(self) -> bool:
        return self.index >= len(self.steps)

    def _effects_hold(self, step: PlanStep) -> bool:
        return bool(step.effects) and all(holds(self.base, a) for a in step.effects)

    def _advance(self, obs: np.ndarray) -> None:
        """Move to the next step whose effects do not already hold, and start its primitive."""
        while self.index < len(self.steps) and self._effects_hold(self.steps[self.index]):
            self.log.append(f"skip {self.steps[self.index]} (already holds)")
            self.index += 1
        if self.index < len(self.steps):
            step = self.steps[self.index]
            self.current = self._make(self.env, step.primitive, **step.params)
            self.current.reset()
            self.steps_in_primitive = 0
            self.log.append(f"start {step}")

    def act(self, obs: np.ndarray) -> np.ndarray:
        if self.current is None and not self.finished:
            self._advance(obs)
        while self.current is not None:
            step = self.steps[self.index]
            if self.current.done(obs) or self.steps_in_primitive >= self.current.horizon:
                if self._effects_hold(step) or not step.effects or self.retries >= self.max_retries:
                    self.log.append(f"end {step}: effects {'hold' if self._effects_hold(step) else 'FAILED'}")
                    self.index += 1
                    self.retries = 0
                    self.current = None
                    self._advance(obs)
                    continue
                self.retries += 1
                self.log.append(f"retry {step} ({self.retries})")
                self.current = self._make(self.env, step.primitive, **step.params)  # a fresh one
                self.current.reset()
                self.steps_in_primitive = 0
            self.steps_in_primitive += 1
            return np.asarray(self.current.act(obs), dtype=np.float32)
        return hold_still(self.base, obs)


def hold_still(env: Any, obs: np.ndarray) -> np.ndarray:
    """An action that keeps the grip site where it is, pointing down, with the gripper open."""
    base = env.unwrapped
    hold = ScriptedExpert(base.obs_layout, base.config.max_ee_step_m, base.config.max_ee_rot_rad)
    obs = np.asarray(obs, dtype=np.float64)
    eef = hold.get(obs, "eef_pos")
    return hold.move(obs, eef, yaw=yaw_of(hold.get(obs, "eef_quat")), gripper=-1.0)
