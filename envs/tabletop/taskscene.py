"""Task scenes: a tabletop env built from a declarative task spec (objects, placement regions, init, goal).

The task language (``skill_rl.planning.tasklang``) parses task files into a :class:`TaskSpec`; this module
turns a spec into a Gymnasium env, so the planner, the lifelong suites and the library all run the same
scenes. Why data instead of one class per task: long-horizon and lifelong suites need hundreds of task
variants (layouts, objects, goals), which a generator writes as files.

Object types come from :data:`CATALOGUE` (a task file's ``name - type``); each type fixes the kind, colour
and size of an :class:`~skill_rl.envs.tabletop.scene.ObjectSpec`:

============== ========= ====== =======================================================
type           kind      colour size (m)
============== ========= ====== =======================================================
cube_red       cube      red    half-size 0.02
cube_blue      cube      blue   half-size 0.025
cube_green     cube      green  half-size 0.02
cube_yellow    cube      yellow half-size 0.02
cylinder_yellow cylinder yellow radius 0.024, half-height 0.022
region         region    region half-extent 0.05 x 0.05 (a flat, collision-free target area)
region_small   region    region half-extent 0.04 x 0.04
cabinet        drawer    wood   cabinet 0.24 x 0.24 x 0.07, drawer slides out 0-0.16 along -x
============== ========= ====== =======================================================

Init atoms say where things start: ``("On", obj, <placement region>)`` samples ``obj``'s xy uniformly in
that :class:`PlacementRegion` (any object kind, cabinets and target regions included), ``("On", a, b)``
with ``b`` a cube/cylinder stacks ``a`` on ``b``, ``("On", a, region)`` puts ``a`` at a target region's
centre, ``("Open", d)`` / ``("Close", d)`` set the drawer's opening. Objects without a placement go
anywhere in :data:`DEFAULT_AREA`; objects are kept at least ``min_gap_m`` apart and out of the cabinet's
footprint and drawer sweep. Goal atoms are predicates (``predicates.PREDICATES``) that must all hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import TabletopConfig, TabletopEnv
from .play import CABINET_DEPTH, CABINET_HALF_WIDTH, DRAWER_MAX_OPENING, HANDLE_OFFSET
from .predicates import evaluate
from .scene import ObjectSpec
from .tasks import Task, _place_free, _place_static

__all__ = [
    "CATALOGUE", "DEFAULT_AREA", "ObjectDecl", "PlacementRegion", "TaskSceneEnv", "TaskSpec", "TaskSceneTask",
    "atom_text", "object_type",
]

Atom = tuple[str, ...]

#: type name -> (kind, colour, size, mass kg). See the module docstring's table.
CATALOGUE: dict[str, tuple[str, str, tuple[float, ...], float]] = {
    "cube_red": ("cube", "red", (0.02,), 0.05),
    "cube_blue": ("cube", "blue", (0.025,), 0.08),
    "cube_green": ("cube", "green", (0.02,), 0.05),
    "cube_yellow": ("cube", "yellow", (0.02,), 0.05),
    "cylinder_yellow": ("cylinder", "yellow", (0.024, 0.022), 0.06),
    "region": ("region", "region", (0.05, 0.05), 0.0),
    "region_small": ("region", "region", (0.04, 0.04), 0.0),
    "cabinet": ("drawer", "wood", (), 0.0),
}
KINDS = ("cube", "cylinder", "region", "drawer")
FREE_KINDS = ("cube", "cylinder")
DEFAULT_AREA = ((-0.14, -0.22), (0.14, 0.22))  # xy low, high (m) for objects without a placement


@dataclass(frozen=True)
class ObjectDecl:
    """One object of a task: instance name, kind (cube, cylinder, region, drawer), colour, size (as ObjectSpec)."""

    name: str
    kind: str
    colour: str
    size: tuple[float, ...]

    @classmethod
    def of_type(cls, name: str, type_name: str) -> ObjectDecl:
        if type_name not in CATALOGUE:
            raise KeyError(f"unknown object type {type_name!r}; catalogue: {', '.join(CATALOGUE)}")
        kind, colour, size, _ = CATALOGUE[type_name]
        return cls(name, kind, colour, size)

    @property
    def type_name(self) -> str:
        return object_type(self)

    def to_object_spec(self) -> ObjectSpec:
        mass = CATALOGUE[self.type_name][3] if self.kind in FREE_KINDS else 0.05
        return ObjectSpec(self.name, self.kind, self.size, self.colour, mass)


def object_type(decl: ObjectDecl) -> str:
    """The catalogue type whose kind, colour and size match ``decl`` (for writing task files)."""
    for type_name, (kind, colour, size, _) in CATALOGUE.items():
        if (kind, colour, tuple(size)) == (decl.kind, decl.colour, tuple(decl.size)):
            return type_name
    raise ValueError(f"object {decl.name!r} ({decl.kind}, {decl.colour}, {decl.size}) matches no catalogue type")


@dataclass(frozen=True)
class PlacementRegion:
    """An axis-aligned area of the table (world xy, metres) where init atoms may place objects."""

    name: str
    low_xy: tuple[float, float]
    high_xy: tuple[float, float]


@dataclass(frozen=True)
class TaskSpec:
    """A task: objects, placement regions, init atoms (where things start) and goal atoms (all must hold)."""

    name: str
    language: str
    objects: tuple[ObjectDecl, ...]
    regions: tuple[PlacementRegion, ...] = ()
    init: tuple[Atom, ...] = ()
    goal: tuple[Atom, ...] = ()

    def object(self, name: str) -> ObjectDecl:
        for o in self.objects:
            if o.name == name:
                return o
        raise KeyError(f"unknown object {name!r}; objects: {', '.join(o.name for o in self.objects)}")

    def region(self, name: str) -> PlacementRegion:
        for r in self.regions:
            if r.name == name:
                return r
        raise KeyError(f"unknown placement region {name!r}; regions: {', '.join(r.name for r in self.regions)}")

    @property
    def kinds(self) -> dict[str, str]:
        return {o.name: o.kind for o in self.objects}

    def validate(self) -> None:
        """Raise ValueError naming the first problem (duplicate names, bad atoms, bad ranges)."""
        from .predicates import check_atom

        names = [o.name for o in self.objects] + [r.name for r in self.regions]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"names declared twice: {', '.join(sorted(dup))}")
        for o in self.objects:
            if o.kind not in KINDS:
                raise ValueError(f"object {o.name!r} has kind {o.kind!r}; expected one of {', '.join(KINDS)}")
        if sum(o.kind == "drawer" for o in self.objects) > 1:
            raise ValueError("at most one cabinet per scene")
        for r in self.regions:
            if not (r.low_xy[0] < r.high_xy[0] and r.low_xy[1] < r.high_xy[1]):
                raise ValueError(f"region {r.name!r}: ranges must be (x_low y_low x_high y_high) with low < high")
        for atom in self.init:
            check_init_atom(atom, self)
        if not self.goal:
            raise ValueError("the goal has no atoms")
        for atom in self.goal:
            check_atom(atom, self.kinds)


def check_init_atom(atom: Atom, spec: TaskSpec) -> None:
    """Raise ValueError if ``atom`` is not a valid init atom of ``spec``."""
    kinds = spec.kinds
    region_names = {r.name for r in spec.regions}
    name, args = atom[0], atom[1:]
    if name == "On":
        if len(args) != 2:
            raise ValueError(f"On takes 2 arguments, got {len(args)}")
        obj, where = args
        if obj not in kinds:
            raise ValueError(f"On: unknown object {obj!r}; objects: {', '.join(kinds)}")
        if where in region_names:
            return
        if where not in kinds:
            raise ValueError(f"On: {where!r} is neither an object nor a placement region; "
                             f"regions: {', '.join(sorted(region_names)) or '(none)'}")
        if kinds[obj] not in FREE_KINDS:
            raise ValueError(f"On: only cubes and cylinders can start on an object; {obj!r} is a {kinds[obj]}")
        if kinds[where] not in (*FREE_KINDS, "region"):
            raise ValueError(f"On: {where!r} is a {kinds[where]}; objects start on cubes, cylinders or regions")
        return
    if name in ("Open", "Close", "Closed"):
        if len(args) != 1 or kinds.get(args[0]) != "drawer":
            raise ValueError(f"{name} takes one drawer (cabinet) argument, got {', '.join(args) or 'none'}")
        return
    raise ValueError(f"init atoms are On, Open or Close; got {name!r}")


def atom_text(atom: Atom) -> str:
    return f"{atom[0]}({', '.join(atom[1:])})"


def _half_height(decl: ObjectDecl) -> float:
    return float(decl.size[0] if decl.kind == "cube" else decl.size[1])


def _footprint(decl: ObjectDecl) -> float:
    """Radius (m) of the disc an object occupies on the table."""
    if decl.kind == "cube":
        return float(decl.size[0]) * 1.42
    if decl.kind == "cylinder":
        return float(decl.size[0])
    return float(max(decl.size))


class TaskSceneTask(Task):
    """The :class:`Task` behind a :class:`TaskSceneEnv`: objects, layout sampling and the goal test of a spec."""

    has_goal_point = False

    def __init__(self, spec: TaskSpec, min_gap_m: float = 0.03) -> None:
        spec.validate()
        self.spec = spec
        self.name = spec.name
        self.objects = tuple(o.to_object_spec() for o in spec.objects)
        self.min_gap = min_gap_m
        self.layout: dict[str, np.ndarray] = {}

    # ---------------------------------------------------------------- layout
    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """Initial xy (and yaw, drawer opening) of every object from the seed alone."""
        spec = self.spec
        where: dict[str, str] = {}
        for atom in spec.init:
            if atom[0] == "On":
                where[atom[1]] = atom[2]
        region_names = {r.name for r in spec.regions}
        xy: dict[str, np.ndarray] = {}
        boxes: list[tuple[np.ndarray, np.ndarray]] = []  # keep-out boxes (cabinet)
        discs: list[tuple[np.ndarray, float]] = []  # occupied discs (centre, radius)
        yaws: dict[str, float] = {}

        def area(name: str) -> tuple[np.ndarray, np.ndarray]:
            target = where.get(name)
            if target in region_names:
                r = spec.region(target)
                return np.asarray(r.low_xy, float), np.asarray(r.high_xy, float)
            return np.asarray(DEFAULT_AREA[0], float), np.asarray(DEFAULT_AREA[1], float)

        def free(p: np.ndarray, radius: float, kind: str) -> bool:
            for low, high in boxes:
                if np.all(p >= low - radius) and np.all(p <= high + radius):
                    return False
            for centre, r in discs:
                gap = self.min_gap if kind != "region" else 0.0
                if np.linalg.norm(p - centre) < radius + r + gap:
                    return False
            return True

        def draw(name: str, decl: ObjectDecl, radius: float) -> np.ndarray:
            low, high = area(name)
            for _ in range(2000):
                p = rng.uniform(low, high)
                if free(p, radius, decl.kind):
                    return p
            raise ValueError(f"task {spec.name!r}: could not place {name!r} in its area without overlaps; "
                             f"make its placement region larger or the scene emptier")

        # 1) the cabinet (a keep-out box for everything else), 2) target regions, 3) free objects, bases first.
        for decl in spec.objects:
            if decl.kind == "drawer":
                low, high = area(decl.name)
                p = rng.uniform(low, high)
                xy[decl.name] = p
                boxes.append((np.array([p[0] - DRAWER_MAX_OPENING - HANDLE_OFFSET - 0.02, p[1] - CABINET_HALF_WIDTH]),
                              np.array([p[0] + CABINET_DEPTH, p[1] + CABINET_HALF_WIDTH])))
        regions = [d for d in spec.objects if d.kind == "region"]
        for decl in regions:
            xy[decl.name] = draw(decl.name, decl, _footprint(decl))
            discs.append((xy[decl.name], _footprint(decl)))
        order = self._free_order()
        for name in order:
            decl = spec.object(name)
            target = where.get(name)
            if target is not None and target not in region_names and spec.object(target).kind != "region":
                xy[name] = xy[target].copy()  # stacked: same xy as its support
            elif target is not None and target not in region_names:
                xy[name] = xy[target].copy()  # at a target region's centre
                discs.append((xy[name], _footprint(decl)))
            else:
                xy[name] = draw(name, decl, _footprint(decl))
                discs.append((xy[name], _footprint(decl)))
            yaws[name] = float(rng.uniform(-np.pi / 4, np.pi / 4)) if decl.kind == "cube" else 0.0
        opening = {}
        for decl in spec.objects:
            if decl.kind == "drawer":
                state = next((a[0] for a in spec.init if a[0] in ("Open", "Close", "Closed") and a[1] == decl.name),
                             "Close")
                opening[decl.name] = float(rng.uniform(0.13, 0.155) if state == "Open" else rng.uniform(0.0, 0.01))
        return {"xy": xy, "yaw": yaws, "opening": opening, "order": order}

    def _free_order(self) -> list[str]:
        """Free objects with every support before what stands on it."""
        spec = self.spec
        on = {a[1]: a[2] for a in spec.init if a[0] == "On"}
        free = [o.name for o in spec.objects if o.kind in FREE_KINDS]
        order: list[str] = []

        def visit(name: str, stack: tuple[str, ...] = ()) -> None:
            if name in order:
                return
            if name in stack:
                raise ValueError(f"task {spec.name!r}: init stacks objects in a cycle: {' -> '.join((*stack, name))}")
            sup = on.get(name)
            if sup in free:
                visit(sup, (*stack, name))
            order.append(name)

        for name in free:
            visit(name)
        return order

    def randomize(self, env: TabletopEnv, rng: np.random.Generator) -> None:
        p = self.sample(rng)
        self.layout = p["xy"]
        spec = self.spec
        on = {a[1]: a[2] for a in spec.init if a[0] == "On"}
        z: dict[str, float] = {}
        for decl in spec.objects:
            if decl.kind in ("drawer", "region"):
                _place_static(env, decl.name, p["xy"][decl.name])
        for name in p["order"]:
            decl = spec.object(name)
            sup = on.get(name)
            base = 0.0
            if sup in z:
                base = z[sup] + _half_height(spec.object(sup))
            z[name] = base + _half_height(decl)
            _place_free(env, name, p["xy"][name], z[name] + (0.001 if base else 0.0), p["yaw"][name])
        m = env.model
        for name, opening in p["opening"].items():
            env.data.qpos[m.jnt_qposadr[m.joint(f"{name}_slide").id]] = opening

    # ---------------------------------------------------------------- goal
    def goal_truth(self, env: TabletopEnv) -> dict[str, bool]:
        return evaluate(env, self.spec.goal)

    def success(self, env: TabletopEnv) -> bool:
        return all(self.goal_truth(env).values())

    def dense_reward(self, env: TabletopEnv) -> float:
        truth = self.goal_truth(env)
        frac = sum(truth.values()) / len(truth)
        return float(frac + (frac == 1.0))

    def extra_info(self, env: TabletopEnv) -> dict[str, Any]:
        return {"goal_atoms": self.goal_truth(env), "task": self.spec.name, "language": self.spec.language}


class TaskSceneEnv(TabletopEnv):
    """A tabletop env whose scene and goal come from a :class:`TaskSpec`.

    ``info["is_success"]`` is true when every goal atom holds; ``info["goal_atoms"]`` maps each goal atom's
    text (``"On(cube_red, cube_blue)"``) to its truth. Options are the :class:`TabletopConfig` fields.
    """

    def __init__(self, spec: TaskSpec, render_mode: str | None = None, config: TabletopConfig | None = None,
                 **options: Any) -> None:
        if not isinstance(spec, TaskSpec):
            raise TypeError(f"TaskSceneEnv needs a TaskSpec (see skill_rl.planning.tasklang.load_task), got {type(spec)}")
        if config is None and "max_episode_steps" not in options:
            options["max_episode_steps"] = 150 * max(1, len(spec.goal)) + 200
        super().__init__(TaskSceneTask(spec), config=config, render_mode=render_mode, **options)
        self.task_spec = spec  # not ``spec``: gymnasium keeps its EnvSpec there
