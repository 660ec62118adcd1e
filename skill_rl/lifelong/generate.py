"""Procedural generator of LIBERO-style task suites on the tabletop, written as task-language files.

Each suite isolates one kind of knowledge, like LIBERO's four suites (Liu et al. 2023, section 4):

* ``tabletop-spatial`` (LIBERO-Spatial): the *same objects* in every task, two of them identical red cubes;
  the layout changes from task to task and the cube to move is named only by where it is ("the red cube on
  the left", "... nearest the robot", "... next to the blue cube").
* ``tabletop-object`` (LIBERO-Object): the same pick-and-place behaviour on *different objects*: pick the
  named object among distractors and put it in the basket (a large region) or on the plate (a small one).
* ``tabletop-goal`` (LIBERO-Goal): *one scene* (same objects, same placement areas) and a different goal per
  task: open the drawer, stack, put something in the drawer, lift, ...
* ``tabletop-long`` (LIBERO-10): two-step goals over varied scenes ("open the drawer and put the red cube on
  the plate", "put the yellow cylinder in the drawer and close it").

The generator is seeded and can make more tasks than the default ten (``n_tasks``); every task is a
:class:`~skill_rl.envs.tabletop.taskscene.TaskSpec` written with ``format_task`` to
``tasks/suites/<suite>/<nn>_<name>.task``, which ``get_suite`` reads back. Validation (does the scripted
demonstrator solve it?) happens when demos are made: a task the demonstrator fails on is an error there.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from skill_rl.fileio import atomic_write_text

from .suites import SUITE_KINDS, SuiteError, suite_dir

__all__ = ["CELLS", "generate_suite", "write_suite"]


# Placement cells on the table (world xy, metres; x away from the robot, y to its left).
CELLS: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "front_left": ((-0.14, 0.12), (-0.07, 0.21)),
    "front_right": ((-0.14, -0.21), (-0.07, -0.12)),
    "back_left": ((0.07, 0.12), (0.14, 0.21)),
    "back_right": ((0.07, -0.21), (0.14, -0.12)),
    "front_centre": ((-0.14, -0.03), (-0.07, 0.03)),
    "back_centre": ((0.07, -0.03), (0.14, 0.03)),
}
_CELL_WORDS = {"front_left": "at the front left", "front_right": "at the front right",
               "back_left": "at the back left", "back_right": "at the back right",
               "front_centre": "at the front centre", "back_centre": "at the back centre"}
_COL = {"front_left": 0, "front_centre": 1, "front_right": 2, "back_left": 0, "back_centre": 1, "back_right": 2}
_ROW = {k: 0 if k.startswith("front") else 1 for k in CELLS}
_FREE_TYPES = ("cube_red", "cube_blue", "cube_green", "cube_yellow", "cylinder_yellow")
_WORDS = {"cube_red": "red cube", "cube_blue": "blue cube", "cube_green": "green cube",
          "cube_yellow": "yellow cube", "cylinder_yellow": "yellow cylinder"}


def _spec(name: str, language: str, objects: list[tuple[str, str]], cells: dict[str, str],
          extra_regions: dict[str, tuple[tuple[float, float], tuple[float, float]]] | None = None,
          init_extra: tuple = (), goal: tuple = ()):  # noqa: ANN202 - TaskSpec (imported lazily)
    from skill_rl.envs.tabletop.taskscene import ObjectDecl, PlacementRegion, TaskSpec

    areas = {**{c: CELLS[c] for c in set(cells.values()) if c in CELLS}, **(extra_regions or {})}
    regions = tuple(PlacementRegion(n, lo, hi) for n, (lo, hi) in sorted(areas.items()))
    init = tuple(("On", obj, cell) for obj, cell in cells.items()) + tuple(init_extra)
    spec = TaskSpec(name, language, tuple(ObjectDecl.of_type(n, t) for n, t in objects), regions, init, goal)
    spec.validate()
    return spec


def _adjacent(a: str, b: str) -> bool:
    return abs(_COL[a] - _COL[b]) + abs(_ROW[a] - _ROW[b]) == 1


def _descriptions(target: str, other: str, cells: dict[str, str]) -> list[str]:
    """Phrases that pick ``target`` out from the identical ``other`` by where it is (each unambiguous)."""
    a, b = cells[target], cells[other]
    out = [_CELL_WORDS[a]]
    if _COL[a] != _COL[b]:
        out.append("on the left" if _COL[a] < _COL[b] else "on the right")
    if _ROW[a] != _ROW[b]:
        out.append("nearest the robot" if _ROW[a] < _ROW[b] else "farthest from the robot")
    for landmark, words in (("cube_blue", "next to the blue cube"), ("plate", "next to the plate")):
        if _adjacent(a, cells[landmark]) and not _adjacent(b, cells[landmark]):
            out.append(words)
    return out


def _spatial(n: int, rng: np.random.Generator) -> list:
    """Same four objects (two identical red cubes) in different layouts; the target named by its place."""
    objects = [("cube_red_a", "cube_red"), ("cube_red_b", "cube_red"), ("cube_blue", "cube_blue"),
               ("plate", "region")]
    tasks, used = [], set()
    layouts = list(itertools.permutations(CELLS, 4))
    rng.shuffle(layouts)
    for cells4 in layouts:
        cells = dict(zip(("cube_red_a", "cube_red_b", "cube_blue", "plate"), cells4, strict=True))
        target = "cube_red_a" if len(tasks) % 2 == 0 else "cube_red_b"
        other = "cube_red_b" if target == "cube_red_a" else "cube_red_a"
        options = [d for d in _descriptions(target, other, cells) if d not in used]
        if not options:
            continue
        rel = options[int(rng.integers(len(options)))] if len(options) > 1 else options[0]
        used.add(rel)
        lang = f"pick up the red cube {rel} and place it on the plate"
        name = f"red_cube_{rel.replace(' ', '_')}_to_plate"
        tasks.append(_spec(name, lang, objects, cells, goal=(("In", target, "plate"),)))
        if len(tasks) == n:
            break
    return tasks


def _object(n: int, rng: np.random.Generator) -> list:
    tasks = []
    destinations = [("basket", "region", "in the basket"), ("plate", "region_small", "on the plate")]
    combos = [(t, d) for d in destinations for t in _FREE_TYPES]
    for i in range(n):
        target, (dest, dest_type, where) = combos[i % len(combos)]
        others = [t for t in _FREE_TYPES if t != target]
        distractors = list(rng.choice(others, size=2, replace=False))
        cells_free = list(rng.permutation([c for c in CELLS if c != "back_centre"]))
        objects = [(target, target), *[(d, d) for d in distractors], (dest, dest_type)]
        cells = {target: cells_free[0], distractors[0]: cells_free[1], distractors[1]: cells_free[2],
                 dest: "back_centre"}
        lang = f"pick up the {_WORDS[target]} and place it {where}"
        suffix = "" if i < len(combos) else f"_v{i // len(combos) + 1}"
        tasks.append(_spec(f"{target}_{where.split()[-1]}{suffix}", lang, objects, cells,
                           goal=(("In", target, dest),)))
    return tasks


# the object in the middle strip is listed (and so placed) first: each outer one then has one neighbour only
_GOAL_SCENE = [("cylinder_yellow", "cylinder_yellow"), ("cube_red", "cube_red"), ("cube_blue", "cube_blue"),
               ("plate", "region_small"), ("cabinet", "cabinet")]
_GOAL_CELLS = {"cube_red": "right_front", "cube_blue": "right_back", "cylinder_yellow": "right_mid",
               "plate": "centre_front", "cabinet": "cabinet_area"}
_GOAL_AREAS = {"right_front": ((-0.14, -0.22), (-0.09, -0.10)), "right_back": ((0.09, -0.22), (0.14, -0.10)),
               "right_mid": ((-0.02, -0.22), (0.02, -0.06)), "centre_front": ((-0.14, -0.06), (-0.06, 0.0)),
               "cabinet_area": ((0.10, 0.13), (0.12, 0.15))}
_GOALS = [
    ("open_the_drawer", "open the drawer", (("Open", "cabinet"),)),
    ("red_cube_on_plate", "put the red cube on the plate", (("In", "cube_red", "plate"),)),
    ("stack_red_on_blue", "stack the red cube on the blue cube", (("On", "cube_red", "cube_blue"),)),
    ("red_cube_in_drawer", "put the red cube in the drawer", (("InDrawer", "cube_red", "cabinet"),)),
    ("cylinder_on_plate", "put the yellow cylinder on the plate", (("In", "cylinder_yellow", "plate"),)),
    ("lift_blue_cube", "pick up the blue cube and hold it", (("Lifted", "cube_blue"),)),
    ("cylinder_on_blue", "put the yellow cylinder on the blue cube", (("On", "cylinder_yellow", "cube_blue"),)),
    ("blue_cube_on_plate", "put the blue cube on the plate", (("In", "cube_blue", "plate"),)),
    ("cylinder_in_drawer", "put the yellow cylinder in the drawer", (("InDrawer", "cylinder_yellow", "cabinet"),)),
    ("lift_red_cube", "pick up the red cube and hold it", (("Lifted", "cube_red"),)),
    ("stack_blue_on_red", "stack the blue cube on the red cube", (("On", "cube_blue", "cube_red"),)),
    ("red_on_cylinder", "put the red cube on the yellow cylinder", (("On", "cube_red", "cylinder_yellow"),)),
]


def _goal(n: int, rng: np.random.Generator) -> list:
    if n > len(_GOALS):
        raise SuiteError(f"tabletop-goal has {len(_GOALS)} goal templates; asked for {n} tasks")
    return [_spec(name, lang, _GOAL_SCENE, _GOAL_CELLS, _GOAL_AREAS, (("Close", "cabinet"),), goal)
            for name, lang, goal in _GOALS[:n]]


_LONG = [
    ("open_drawer_and_red_on_plate", "open the drawer and put the red cube on the plate",
     (("Open", "cabinet"), ("In", "cube_red", "plate"))),
    ("red_in_drawer_and_close", "put the red cube in the drawer and close it",
     (("InDrawer", "cube_red", "cabinet"), ("Close", "cabinet"))),
    ("stack_red_on_blue_and_cylinder_on_plate", "stack the red cube on the blue cube and put the yellow cylinder "
     "on the plate", (("On", "cube_red", "cube_blue"), ("In", "cylinder_yellow", "plate"))),
    ("cylinder_in_drawer_and_close", "put the yellow cylinder in the drawer and close it",
     (("InDrawer", "cylinder_yellow", "cabinet"), ("Close", "cabinet"))),
    ("open_drawer_and_stack_red_on_blue", "open the drawer and stack the red cube on the blue cube",
     (("Open", "cabinet"), ("On", "cube_red", "cube_blue"))),
    ("blue_on_plate_and_red_on_blue", "put the blue cube on the plate and stack the red cube on it",
     (("In", "cube_blue", "plate"), ("On", "cube_red", "cube_blue"))),
    ("green_in_drawer_and_red_on_plate", "put the green cube in the drawer and the red cube on the plate",
     (("InDrawer", "cube_green", "cabinet"), ("In", "cube_red", "plate"))),
    ("stack_green_on_red_and_cylinder_on_plate", "stack the green cube on the red cube and put the yellow "
     "cylinder on the plate", (("On", "cube_green", "cube_red"), ("In", "cylinder_yellow", "plate"))),
    ("open_drawer_and_lift_blue", "open the drawer and then pick up the blue cube and hold it",
     (("Open", "cabinet"), ("Lifted", "cube_blue"))),
    ("red_and_green_on_blue_tower", "stack the green cube on the blue cube and the red cube on the green cube",
     (("On", "cube_green", "cube_blue"), ("On", "cube_red", "cube_green"))),
]


def _long(n: int, rng: np.random.Generator) -> list:
    if n > len(_LONG):
        raise SuiteError(f"tabletop-long has {len(_LONG)} goal templates; asked for {n} tasks")
    tasks = []
    for name, lang, goal in _LONG[:n]:
        used = sorted({a for atom in goal for a in atom[1:]})
        drawer = "cabinet" in used
        free = [o for o in used if o in _FREE_TYPES]
        extra = [t for t in ("cube_blue", "cube_green", "cylinder_yellow") if t not in free]
        free = free + [str(x) for x in rng.choice(extra, size=max(0, 3 - len(free)), replace=False)]
        objects = [(o, o) for o in free] + ([("plate", "region_small")] if "plate" in used else [])
        if drawer:  # the goal-suite layout: objects on the right, cabinet at the back left
            objects.append(("cabinet", "cabinet"))
            areas = ["right_mid", "right_front", "right_back"]  # the middle one is placed first
            cells = {o: areas[i] for i, o in enumerate(free)}
            cells["cabinet"] = "cabinet_area"
            if "plate" in used:
                cells["plate"] = "centre_front"
            tasks.append(_spec(name, lang, objects, cells, _GOAL_AREAS, (("Close", "cabinet"),), goal))
        else:
            order = list(rng.permutation(list(CELLS)))
            cells = {o: order[i] for i, o in enumerate(free)}
            if "plate" in used:
                cells["plate"] = order[len(free)]
            tasks.append(_spec(name, lang, objects, cells, goal=goal))
    return tasks


_GENERATORS = {"spatial": _spatial, "object": _object, "goal": _goal, "long": _long}


def generate_suite(suite: str, n_tasks: int = 10, seed: int = 0) -> list:
    """``n_tasks`` TaskSpecs of ``suite`` (``tabletop-<kind>`` with kind in spatial, object, goal, long)."""
    kind = suite.removeprefix("tabletop-")
    if kind not in SUITE_KINDS:
        raise SuiteError(f"unknown suite {suite!r} to generate; choose one of "
                         f"{', '.join('tabletop-' + k for k in SUITE_KINDS)}")
    if n_tasks < 1:
        raise SuiteError("n_tasks must be >= 1")
    tasks = _GENERATORS[kind](n_tasks, np.random.default_rng(seed))
    if len(tasks) < n_tasks:
        raise SuiteError(f"{suite}: the generator found only {len(tasks)} distinct tasks (asked for {n_tasks})")
    return tasks


def write_suite(suite: str, n_tasks: int = 10, seed: int = 0, out_dir: str | Path | None = None) -> list[Path]:
    """Generate and write the suite's task files (``<nn>_<name>.task``, atomically); old ones are replaced."""
    from skill_rl.planning.tasklang import format_task, parse_task

    folder = Path(out_dir) if out_dir is not None else suite_dir(suite)
    specs = generate_suite(suite, n_tasks, seed)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.task"):
        old.unlink()
    paths = []
    for i, spec in enumerate(specs):
        text = format_task(spec)
        if parse_task(text) != spec:  # the files must load back to exactly these tasks
            raise RuntimeError(f"task language round trip changed {spec.name!r}")
        path = folder / f"{i:02d}_{spec.name}.task"
        atomic_write_text(path, f";; {suite} task {i} (generated by skill_rl.lifelong.generate, seed {seed})\n"
                          + text)
        paths.append(path)
    return paths
