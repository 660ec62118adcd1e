"""Beam search over sequences of grounded primitive calls (symbolic states, optional learned dynamics).

Why beam search (not CEM): the choices are discrete (which primitive, which objects), the branching factor
of a tabletop scene is tens, and a beam keeps several orderings alive, which is what long-horizon tasks
need (stack supports first, open the drawer before putting things in). CEM/MPPI would fit continuous
parameters (latent z, target xy); those enter here as a finite set of grounded candidates.

A node is (symbolic state, the steps so far, log P(all steps succeed), predicted observation or None).
Children are ranked by ``g + w * h`` (lower is better; a tiny seeded noise breaks ties), where
``g = steps - log P(all steps succeed)`` and ``h`` is the additive delete-relaxation heuristic ``h_add``
(each unsatisfied goal atom costs the steps needed to reach it when nothing is ever deleted; negative
preconditions ignored, plus two steps for each satisfied goal atom stacked on an object that must still
move): unlike a count of unsatisfied goal atoms it sees that opening a drawer is progress
even though it undoes ``Close(drawer)``. A step that makes neither a goal atom nor any operator's
precondition newly true (stacking a cube somewhere incidental) costs ``useless_step_cost`` more, which breaks the ties
``h_add`` leaves. The best ``beam_width`` are kept per depth; a state reached twice keeps only its
best node. Step success probabilities come from the ``scorer`` (a learned classifier on the predicted
observation when the skill has one, else the operator's prior); the ``predictor`` (a learned skill dynamics
model) carries the continuous state forward so later steps are scored on where the world is predicted to be.

The search is anytime: when its expansion budget runs out before a plan reaches the goal it returns the
best partial plan (``complete=False``); the executor runs its first step and replans (receding horizon).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .symbolic import Operator, State, applicable, apply

__all__ = ["Plan", "SearchConfig", "h_add", "plan_search"]

LOCATION_GOALS = ("On", "In", "InDrawer", "Lifted")

Scorer = Callable[[Operator, Any], float]
Predictor = Callable[[Operator, Any], Any]


@dataclass
class SearchConfig:
    """Beam search knobs; ``max_expansions`` is the planning budget (successor states evaluated)."""

    beam_width: int = 4
    max_depth: int = 8
    max_expansions: int = 5000
    unsatisfied_weight: float = 1.0  # weight of the heuristic against the cost so far (steps - log P)
    useless_step_cost: float = 0.5  # extra cost of a step that makes no goal atom or precondition newly true
    heuristic: str = "h_add"  # "h_add": delete-relaxed step count; "goal_count": unsatisfied goal atoms
    min_step_prob: float = 0.05  # steps less likely than this are not considered
    seed: int | None = None  # tie-break noise; None: deterministic order


@dataclass
class Plan:
    """The search's answer: steps, the symbolic state predicted after each, P(success), and search stats."""

    steps: list[Operator]
    states: list[State]
    log_prob: float
    complete: bool
    expansions: int
    time_s: float
    predicted_obs: list[Any] = field(default_factory=list)
    unsatisfied: int = 0

    @property
    def success_prob(self) -> float:
        return math.exp(self.log_prob)

    def describe(self) -> list[str]:
        return [str(s) for s in self.steps]


@dataclass(order=True)
class _Node:
    score: float
    tie: float
    state: State = field(compare=False)
    steps: tuple[Operator, ...] = field(compare=False)
    states: tuple[State, ...] = field(compare=False)
    log_prob: float = field(compare=False)
    obs: Any = field(compare=False, default=None)
    obs_trace: tuple[Any, ...] = field(compare=False, default=())
    idle: float = field(compare=False, default=0.0)


def h_add(state: State, goal: frozenset, ops: list[Operator]) -> float:
    """Additive heuristic: sum over goal atoms of their relaxed step cost (``inf`` if unreachable)."""
    cost: dict[Any, float] = {a: 0.0 for a in state}
    changed = True
    while changed:
        changed = False
        for op in ops:
            if not op.add:
                continue
            c = 1.0
            for a in op.pre:
                ca = cost.get(a)
                if ca is None:
                    break
                c += ca
            else:
                for a in op.add:
                    if c < cost.get(a, math.inf):
                        cost[a] = c
                        changed = True
    h = float(sum(cost.get(a, math.inf) for a in goal))
    # Ordering: a satisfied goal atom that stands on an object which must still move (On(y, x) while x's own
    # location goal is open) has to be undone and redone: two more steps the relaxation cannot see.
    moving = {a[1] for a in goal - state if a[0] in LOCATION_GOALS}
    return h + 2.0 * sum(1 for a in goal & state if a[0] == "On" and a[2] in moving)


def plan_search(state: State, goal: frozenset, operators: Iterable[Operator], config: SearchConfig | None = None,
                scorer: Scorer | None = None, predictor: Predictor | None = None, obs: Any = None,
                exclude: Iterable[Operator] = ()) -> Plan:
    """Search for operators taking ``state`` to a superset of ``goal``; see the module docstring."""
    cfg = config or SearchConfig()
    ops = [op for op in operators if op not in set(exclude)]
    rng = np.random.default_rng(cfg.seed) if cfg.seed is not None else None
    t0 = time.perf_counter()

    def unsat(s: State) -> int:
        return len(goal - s)

    useful = set(goal).union(*(op.pre for op in ops)) if ops else set(goal)

    def node(s: State, steps, states, lp, o, trace, idle: float = 0.0) -> _Node:
        tie = float(rng.uniform()) * 1e-6 if rng is not None else 0.0
        h = h_add(s, goal, ops) if cfg.heuristic == "h_add" else unsat(s)
        return _Node(len(steps) - lp + idle + cfg.unsatisfied_weight * h, tie, s, steps, states, lp, o, trace, idle)

    start = node(state, (), (), 0.0, obs, ())
    if unsat(state) == 0:
        return Plan([], [], 0.0, True, 0, time.perf_counter() - t0)
    beam = [start]
    best_partial = start
    best_seen: dict[State, float] = {state: 0.0}
    solutions: list[_Node] = []
    expansions = 0
    log_min = math.log(cfg.min_step_prob)
    exhausted = False
    for _depth in range(cfg.max_depth):
        children: list[_Node] = []
        for parent in beam:
            for op in ops:
                if not applicable(op, parent.state):
                    continue
                if expansions >= cfg.max_expansions:
                    exhausted = True
                    break
                expansions += 1
                new_state = apply(op, parent.state)
                if new_state == parent.state:
                    continue  # changes nothing in the model: never useful
                p = scorer(op, parent.obs) if scorer is not None else op.prior
                if p <= 0 or math.log(p) < log_min:
                    continue
                lp = parent.log_prob + math.log(p)
                if best_seen.get(new_state, -math.inf) >= lp:
                    continue
                best_seen[new_state] = lp
                new_obs = predictor(op, parent.obs) if (predictor is not None and parent.obs is not None) else None
                idle = parent.idle + (0.0 if (new_state - parent.state) & useful else cfg.useless_step_cost)
                child = node(new_state, (*parent.steps, op), (*parent.states, new_state), lp, new_obs,
                             (*parent.obs_trace, new_obs), idle)
                if unsat(new_state) == 0:
                    solutions.append(child)
                else:
                    children.append(child)
            if exhausted:
                break
        children.sort()
        if children and (children[0] < best_partial or not best_partial.steps):
            best_partial = children[0]
        if solutions or exhausted or not children:
            break
        beam = children[: cfg.beam_width]
    elapsed = time.perf_counter() - t0
    if solutions:
        best = max(solutions, key=lambda n: (n.log_prob, -len(n.steps), -n.tie))
        return Plan(list(best.steps), list(best.states), best.log_prob, True, expansions, elapsed,
                    list(best.obs_trace), 0)
    b = best_partial
    return Plan(list(b.steps), list(b.states), b.log_prob, False, expansions, elapsed, list(b.obs_trace),
                unsat(b.state))
