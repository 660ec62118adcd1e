"""Goals: predicate goals (atoms from a task file) and state goals (target object positions).

A state goal ``{"cube_red": (0.05, -0.1)}`` asks for an object's centre within ``tol_m`` of a table point
(world xy, metres). The planner treats each target as an extra atom ``At(obj, "x,y")`` that holds when the
object is there and is achieved by ``push(obj, target_xy=(x, y))``, so predicate and state goals mix in
one search (``On(cube_green, cube_blue)`` and ``cube_red`` at a point).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from skill_rl.errors import UserError
from skill_rl.library.catalog import AT_TOL_M, BadParamsError, atom_holds, point_key, primitive

from .symbolic import Operator, operator_of

__all__ = ["StateGoal", "parse_targets"]


@dataclass(frozen=True)
class StateGoal:
    """Target xy positions (world, m) of free objects, each to be reached within ``tol_m``."""

    targets: tuple[tuple[str, tuple[float, float]], ...]
    tol_m: float = AT_TOL_M

    @staticmethod
    def key(xy: tuple[float, float]) -> str:
        return point_key(xy)

    def atoms(self) -> frozenset:
        return frozenset(("At", name, self.key(xy)) for name, xy in self.targets)

    def check(self, kinds: dict[str, str]) -> None:
        for name, _ in self.targets:
            if kinds.get(name) not in ("cube", "cylinder"):
                known = ", ".join(n for n, k in kinds.items() if k in ("cube", "cylinder"))
                raise UserError(f"state goal: {name!r} is not a cube or cylinder of this scene; free objects: {known}")

    def holding(self, env: Any) -> frozenset:
        """The ``At`` atoms that hold now."""
        return frozenset(a for a in self.atoms() if atom_holds(env, a, self.tol_m))

    def operators(self, kinds: dict[str, str], prior: float | None = None) -> list[Operator]:
        """``push(obj, target_xy)`` per target (the catalog's push to a point: needs the object free-standing on
        the table)."""
        push = primitive("push")
        ops = []
        for name, xy in self.targets:
            params = push.validate({"obj": name, "target_xy": (float(xy[0]), float(xy[1]))}, kinds)
            g = push.ground(params, kinds)
            assert g is not None, "push declares a case for a point"
            ops.append(operator_of(g, prior=prior))
        return ops


def parse_targets(items: Iterable[str], tol_m: float = 0.03) -> StateGoal:
    """``["cube_red=0.05,-0.1", ...]`` -> :class:`StateGoal` (clear errors for malformed items)."""
    targets = []
    for item in items:
        name, sep, rest = item.partition("=")
        parts = rest.split(",")
        try:
            if not sep or len(parts) != 2:
                raise ValueError
            xy = (float(parts[0]), float(parts[1]))
        except ValueError:
            raise UserError(f"bad target {item!r}: write OBJECT=X,Y with X, Y in metres (world frame), "
                            f"e.g. cube_red=0.05,-0.1") from None
        try:
            primitive("push").param("target_xy").check(xy, None, "target")
        except BadParamsError as exc:
            raise UserError(f"target {item!r} is off the table: {exc}") from None
        targets.append((name.strip(), xy))
    return StateGoal(tuple(targets), tol_m)
