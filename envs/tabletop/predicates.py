"""Symbolic predicates over a tabletop scene: the one definition of "on", "in", "open", ... for every user.

Task files (the planner's task language, lifelong suites), goal-reaching evaluations (Play-LMP) and
success checks all ask these, so a cube counts as "in the region" in exactly one way everywhere.
Each predicate takes the env (a :class:`~skill_rl.envs.tabletop.base.TabletopEnv`) and object names as
they appear in the scene (body names), and reads the current simulator state. Distances are metres,
world frame; the table top is z = 0.

Names follow LIBERO's BDDL where one exists (``On``, ``In``, ``Open``, ``Close``); ``Closed`` is an alias
of ``Close``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PREDICATES", "Predicate", "evaluate", "holds"]

DRAWER_OPEN_M = 0.12  # drawer opening (m) above which a drawer is Open (TabletopDrawer's success threshold)
DRAWER_CLOSED_M = 0.02  # ... and below which it is Closed
LIFT_HEIGHT_M = 0.1  # object centre height for Lifted (TabletopLift's success threshold)
RESTING_Z_TOL_M = 0.01  # an object rests on the table if its centre is within this of its half-height
ON_XY_TOL_M = 0.025  # horizontal distance between centres for On(a, b)
ON_Z_TOL_M = 0.012  # |(z_a - z_b) - (h_a + h_b)| for On(a, b)


def _half_height(env: Any, name: str) -> float:
    """Half-height of a free object (cube half-size or cylinder half-height), from the scene spec."""
    for spec in env.task.objects:
        if spec.name == name:
            if spec.kind == "cube":
                return float(spec.size[0])
            if spec.kind == "cylinder":
                return float(spec.size[1])
            raise ValueError(f"{name!r} is a {spec.kind}, not a free object (cube or cylinder)")
    raise KeyError(name)


def _region_half(env: Any, name: str) -> np.ndarray:
    for spec in env.task.objects:
        if spec.name == name:
            if spec.kind != "region":
                raise ValueError(f"{name!r} is a {spec.kind}, not a region")
            return np.asarray(spec.size[:2], dtype=float)
    raise KeyError(name)


def _drawer_opening(env: Any, name: str) -> float:
    return env.joint_pos(f"{name}_slide")


def resting(env: Any, obj: str) -> bool:
    """``obj`` sits on the table (not lifted, not stacked) and is not held."""
    z = env.body_pos(obj)[2]
    return bool(abs(z - _half_height(env, obj)) < RESTING_Z_TOL_M and not env.is_grasped(obj))


def on(env: Any, obj: str, support: str) -> bool:
    """``obj`` rests on ``support``: on top of a free object (stacked, centred, touching, let go), or
    inside a region (same as :func:`inside`)."""
    if _kind(env, support) == "region":
        return inside(env, obj, support)
    a, b = env.body_pos(obj), env.body_pos(support)
    aligned = np.linalg.norm(a[:2] - b[:2]) < ON_XY_TOL_M
    stacked = abs((a[2] - b[2]) - (_half_height(env, obj) + _half_height(env, support))) < ON_Z_TOL_M
    return bool(aligned and stacked and not env.is_grasped(obj) and env.in_contact(obj, support))


def inside(env: Any, obj: str, region: str) -> bool:
    """``obj``'s centre lies inside ``region``'s square, the object rests on the table and is let go."""
    p, r = env.body_pos(obj), env.body_pos(region)
    within = np.all(np.abs(p[:2] - r[:2]) < _region_half(env, region))
    return bool(within and resting(env, obj))


def is_open(env: Any, drawer: str) -> bool:
    """The drawer is pulled out by more than ``DRAWER_OPEN_M``."""
    return _drawer_opening(env, drawer) > DRAWER_OPEN_M


def is_closed(env: Any, drawer: str) -> bool:
    """The drawer is pushed in to less than ``DRAWER_CLOSED_M``."""
    return _drawer_opening(env, drawer) < DRAWER_CLOSED_M


def lifted(env: Any, obj: str) -> bool:
    """``obj`` is held above ``LIFT_HEIGHT_M`` (centre height)."""
    return bool(env.body_pos(obj)[2] > LIFT_HEIGHT_M and env.is_grasped(obj))


def grasped(env: Any, obj: str) -> bool:
    """Both finger pads touch ``obj``."""
    return bool(env.is_grasped(obj))


def _kind(env: Any, name: str) -> str:
    for spec in env.task.objects:
        if spec.name == name:
            return spec.kind
    known = ", ".join(s.name for s in env.task.objects)
    raise KeyError(f"unknown object {name!r} in this scene; objects: {known}")


@dataclass(frozen=True)
class Predicate:
    """A named predicate: its arity, the object kinds each argument accepts, and the test itself."""

    name: str
    arg_kinds: tuple[tuple[str, ...], ...]  # per argument: accepted ObjectSpec kinds
    test: Callable[..., bool]
    doc: str


_FREE = ("cube", "cylinder")
PREDICATES: dict[str, Predicate] = {
    p.name: p
    for p in (
        Predicate("On", (_FREE, (*_FREE, "region")), on, "On(a, b): a rests on b (a free object or a region)"),
        Predicate("In", (_FREE, ("region",)), inside, "In(a, r): a rests inside region r"),
        Predicate("Open", (("drawer",),), is_open, "Open(d): drawer d pulled out > 12 cm"),
        Predicate("Close", (("drawer",),), is_closed, "Close(d): drawer d pushed in < 2 cm"),
        Predicate("Closed", (("drawer",),), is_closed, "Closed(d): alias of Close(d)"),
        Predicate("Lifted", (_FREE,), lifted, "Lifted(a): a held with its centre above 10 cm"),
        Predicate("Grasped", (_FREE,), grasped, "Grasped(a): both finger pads touch a"),
        Predicate("OnTable", (_FREE,), resting, "OnTable(a): a rests on the table, let go"),
    )
}


def check_atom(atom: tuple[str, ...], kinds: dict[str, str]) -> None:
    """Raise ValueError naming the problem if ``atom`` (name, *args) is not a well-formed predicate over
    objects whose kinds are ``kinds`` (object name -> ObjectSpec kind)."""
    if not atom:
        raise ValueError("empty predicate")
    name, args = atom[0], atom[1:]
    pred = PREDICATES.get(name)
    if pred is None:
        raise ValueError(f"unknown predicate {name!r}; known: {', '.join(PREDICATES)}")
    if len(args) != len(pred.arg_kinds):
        raise ValueError(f"{name} takes {len(pred.arg_kinds)} argument(s), got {len(args)}: {pred.doc}")
    for arg, accepted in zip(args, pred.arg_kinds, strict=True):
        if arg not in kinds:
            raise ValueError(f"{name}: unknown object {arg!r}; objects: {', '.join(kinds) or '(none)'}")
        if kinds[arg] not in accepted:
            raise ValueError(f"{name}: {arg!r} is a {kinds[arg]}, expected one of {', '.join(accepted)}")


def holds(env: Any, atom: tuple[str, ...]) -> bool:
    """Truth of one ground atom, e.g. ``("On", "cube_red", "cube_blue")``, in the env's current state."""
    check_atom(atom, {s.name: s.kind for s in env.task.objects})
    return bool(PREDICATES[atom[0]].test(env, *atom[1:]))


def evaluate(env: Any, atoms: tuple[tuple[str, ...], ...] | list[tuple[str, ...]]) -> dict[str, bool]:
    """Truth of each atom, keyed by its text form ``"On(cube_red, cube_blue)"``."""
    return {f"{a[0]}({', '.join(a[1:])})": holds(env, a) for a in atoms}


# ---------------------------------------------------------------------------------------------- appended
DRAWER_TRAY_HALF_M = 0.11  # half-extent (x, y) of the drawer tray's inside (scene._drawer_xml: d - t)
DRAWER_TRAY_DEPTH_M = 0.12  # tray centre is this far behind the drawer front (+x)
CABINET_HEIGHT_M = 0.07


def in_drawer(env: Any, obj: str, drawer: str) -> bool:
    """``obj`` lies in ``drawer``'s tray (moves with it; open or closed), below the cabinet top, let go."""
    tray = env.body_pos(f"{drawer}_drawer") + np.array([DRAWER_TRAY_DEPTH_M, 0.0, 0.0])
    p = env.body_pos(obj)
    within = np.all(np.abs(p[:2] - tray[:2]) < DRAWER_TRAY_HALF_M)
    return bool(within and p[2] < CABINET_HEIGHT_M and not env.is_grasped(obj))


PREDICATES["InDrawer"] = Predicate(
    "InDrawer", (_FREE, ("drawer",)), in_drawer, "InDrawer(a, d): a lies in drawer d's tray, let go")
