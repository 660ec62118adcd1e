"""A fixed scripted plan for a task spec and the demonstrator that runs it (demonstrations for lifelong suites).

``scripted_plan(spec)`` orders the catalog calls that achieve a task's goal atoms (open drawers first,
supports before what is stacked on them, closes after whatever goes into the drawer, lifts last); which call
achieves which atom, and what each call's effects are, come from the catalog (``skill_rl.library.catalog``).
:class:`ScriptedDemonstrator` runs that plan closed-loop, skipping steps whose effects already hold and
retrying a step whose effects did not come true. It never reorders (the planner does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .catalog import achiever, atom_holds, make_scripted, primitive

__all__ = ["PlanStep", "ScriptedDemonstrator", "primitive_effects", "scripted_plan", "scripted_steps"]

Atom = tuple[str, ...]


@dataclass(frozen=True)
class PlanStep:
    """One primitive call of a plan and the atoms it is meant to make true."""

    primitive: str
    params: dict[str, Any]
    effects: tuple[Atom, ...]

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.primitive}({args})"


def primitive_effects(name: str, params: dict[str, Any], kinds: dict[str, str]) -> tuple[Atom, ...]:
    """Declared effects of a catalog call (its add list; empty when none is declared)."""
    return primitive(name).effects(params, kinds)


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
        made = achiever(atom, kinds)
        if made is None:
            continue  # OnTable: a condition the plan keeps (nothing is placed on the table on purpose)
        name, params = made
        steps.append(PlanStep(name, params, primitive_effects(name, params, kinds)))
    return steps


def scripted_plan(spec: Any) -> list[tuple[str, dict[str, Any]]]:
    """``[(primitive_name, params), ...]`` achieving ``spec``'s goal atoms (see :func:`scripted_steps`)."""
    return [(s.primitive, dict(s.params)) for s in scripted_steps(spec)]


class ScriptedDemonstrator:
    """Runs the scripted plan of a task scene closed-loop: ``reset()`` then ``act(obs)`` every step.

    Before a step starts, it is skipped if its effects already hold; when a step finishes (``done`` or its
    horizon) and its effects do not hold, it is retried (up to ``max_retries``), otherwise the plan moves on.
    After the last step it holds still with the gripper open. ``log`` records what happened, for debugging.
    ``make(env, name, **params)`` builds a step's skill (default :func:`~skill_rl.library.catalog.make_scripted`).
    """

    def __init__(self, env: Any, spec: Any, max_retries: int = 2,
                 make: Callable[..., Any] | None = None) -> None:
        self.env = env
        self.base = env.unwrapped
        self.spec = spec
        self.steps = scripted_steps(spec)
        self.max_retries = max_retries
        self._make = make or make_scripted
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
        return bool(step.effects) and all(atom_holds(self.base, a) for a in step.effects)

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
            done = self.current.done(obs)
            if done or self.steps_in_primitive >= self.current.horizon:
                ended = "" if done else " at its horizon"  # a fallback: the primitive did not finish its motion
                if self._effects_hold(step) or not step.effects or self.retries >= self.max_retries:
                    self.log.append(f"end {step}{ended}: effects {'hold' if self._effects_hold(step) else 'FAILED'}")
                    self.index += 1
                    self.retries = 0
                    self.current = None
                    self._advance(obs)
                    continue
                self.retries += 1
                self.log.append(f"retry {step} ({self.retries}){ended}")
                self.current = self._make(self.env, step.primitive, **step.params)  # a fresh one
                self.current.reset()
                self.steps_in_primitive = 0
            self.steps_in_primitive += 1
            return np.asarray(self.current.act(obs), dtype=np.float32)
        from skill_rl.envs.tabletop.primitives import hold_still

        return hold_still(self.base, obs)
