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

import numpy as np

from skill_rl.errors import UserError

from .symbolic import Atom, Operator

__all__ = ["StateGoal", "parse_targets"]


@dataclass(frozen=True)
class StateGoal:
    """Target xy positions (world, m) of free objects, each to be reached within ``tol_m``."""

    targets: tuple[tuple[str, tuple[float, float]], ...]
    tol_m: float = 0.03

    @staticmethod
    def key(xy: tuple[float, float]) -> str:
        return f"{xy[0]:.3f},{xy[1]:.3f}"

    def atoms(self) -> frozenset:
        return frozenset(("At", name, self.key(xy)) for name, xy in self.targets)

    def check(self, kinds: dict[str, str]) -> None:
        for name, _ in self.targets:
            if kinds.get(name) not in ("cube", "cylinder"):
                known = ", ".join(n for n, k in kinds.items() if k in ("cube", "cylinder"))
                raise UserError(f"state goal: {name!r} is not a cube or cylinder of this scene; free objects: {known}")

    def holding(self, env: Any) -> frozenset:
        """The ``At`` atoms that hold now."""
        base = env.unwrapped
        out: set[Atom] = set()
        for name, xy in self.targets:
            p = base.body_pos(name)
            if np.linalg.norm(p[:2] - np.asarray(xy)) < self.tol_m and not base.is_grasped(name):
                out.add(("At", name, self.key(xy)))
        return frozenset(out)

    def operators(self, kinds: dict[str, str], prior: float = 0.8) -> list[Operator]:
        """``push(obj, target_xy)`` per target: needs the object free-standing on the table."""
        ops = []
        for name, xy in self.targets:
            ops.append(Operator("push", (("obj", name), ("target_xy", (float(xy[0]), float(xy[1])))),
                                pre=frozenset({("OnTable", name)}), pre_not=(("On", "*", name), ("Lifted", "*")),
                                add=frozenset({("At", name, self.key(xy))}),
                                delete_patterns=(("At", name, "*"), ("In", name, "*")), prior=prior))
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
        if not (-0.45 < xy[0] < 0.45 and -0.6 < xy[1] < 0.6):
            raise UserError(f"target {item!r} is off the table (|x| < 0.45 m, |y| < 0.6 m)")
        targets.append((name.strip(), xy))
    return StateGoal(tuple(targets), tol_m)
