"""The symbolic layer: which primitive call achieves which predicate, and what must hold before it runs.

A symbolic state is a frozenset of ground atoms (``("On", "cube_red", "cube_blue")``) read from the
simulator with the shared predicates (:func:`abstract_state`). An :class:`Operator` is one grounded
primitive call with STRIPS-style preconditions, an add list and a delete list. Operators come from two places:

* **declared** (:func:`declared_operators`) for the scripted primitives, grounded from their one declaration
  in the catalog (``skill_rl.library.catalog``);
* **learned** (:func:`learn_operator`) for any library skill: run it from several start states and keep
  the atoms that became true (add) or false (delete) in at least ``min_support`` of the runs; the fraction of
  runs whose add list came true is its success prior. Learned skills (SLIM ``z``, Play-LMP, BC) enter the
  planner this way, without anyone declaring what they do.

Negative preconditions (``pre_not``) keep the model small: ``pick_place(a, b)`` needs nothing on ``a`` and
nothing on ``b``, which is "no atom On(*, a)" rather than a Clear predicate the simulator does not have.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from skill_rl.envs.tabletop.predicates import holds
from skill_rl.library.catalog import Grounding, ground_operators

__all__ = [
    "Atom", "Operator", "State", "abstract_state", "applicable", "apply", "declared_operators", "ground_atoms",
    "learn_operator",
]

Atom = tuple[str, ...]
State = frozenset
FREE = ("cube", "cylinder")
LOCATION_PREDICATES = ("On", "In", "InDrawer", "OnTable", "Lifted", "Grasped")


@dataclass(frozen=True)
class Operator:
    """A grounded primitive call in the symbolic model.

    ``pre``: atoms that must hold; ``pre_not``: atom patterns that must not match any state atom (``"*"`` is
    a wildcard); ``add``/``delete``: effects; ``delete_patterns``: wildcard deletes (where ``obj`` was before);
    ``prior``: success probability when no learned classifier says otherwise; ``source``: declared | learned.
    """

    primitive: str
    params: tuple[tuple[str, Any], ...]
    pre: frozenset = frozenset()
    pre_not: tuple[Atom, ...] = ()
    add: frozenset = frozenset()
    delete: frozenset = frozenset()
    delete_patterns: tuple[Atom, ...] = ()
    prior: float = 0.9
    source: str = "declared"
    skill: str = ""  # library skill name that runs it (defaults to the primitive name)

    @property
    def kwargs(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.params}

    def __str__(self) -> str:
        return f"{self.skill or self.primitive}({', '.join(f'{k}={v}' for k, v in self.kwargs.items())})"


def _match(pattern: Atom, atom: Atom) -> bool:
    return len(pattern) == len(atom) and all(p in ("*", a) for p, a in zip(pattern, atom, strict=True))


def applicable(op: Operator, state: State) -> bool:
    """Preconditions hold and no forbidden pattern matches."""
    if not op.pre <= state:
        return False
    return not any(_match(p, a) for p in op.pre_not for a in state)


def apply(op: Operator, state: State) -> State:
    """The state after ``op`` (assumed applicable)."""
    kept = {a for a in state if a not in op.delete and not any(_match(p, a) for p in op.delete_patterns)}
    return frozenset(kept | op.add)


def ground_atoms(objects: dict[str, str]) -> list[Atom]:
    """Every atom worth tracking over a scene's objects (name -> kind)."""
    free = [n for n, k in objects.items() if k in FREE]
    regions = [n for n, k in objects.items() if k == "region"]
    drawers = [n for n, k in objects.items() if k == "drawer"]
    atoms: list[Atom] = []
    for a in free:
        atoms += [("On", a, b) for b in free if b != a]
        atoms += [("In", a, r) for r in regions]
        atoms += [("InDrawer", a, d) for d in drawers]
        atoms += [("OnTable", a), ("Lifted", a)]
    for d in drawers:
        atoms += [("Open", d), ("Close", d)]
    return atoms


def abstract_state(env: Any, atoms: Iterable[Atom] | None = None) -> State:
    """The atoms that hold in ``env`` now (``On(a, region)`` is reported as ``In(a, region)``)."""
    base = env.unwrapped
    kinds = {o.name: o.kind for o in base.task.objects}
    return frozenset(a for a in (atoms if atoms is not None else ground_atoms(kinds)) if holds(base, a))


def normalise_goal(goal: Iterable[Atom], kinds: dict[str, str]) -> frozenset:
    """Goal atoms in the symbolic layer's vocabulary: On(a, region) -> In(a, region), Closed -> Close."""
    out = set()
    for a in goal:
        if a[0] == "On" and kinds.get(a[2]) == "region":
            a = ("In", a[1], a[2])
        elif a[0] == "Closed":
            a = ("Close", a[1])
        elif a[0] == "Grasped":
            a = ("Lifted", a[1])
        out.add(a)
    return frozenset(out)


def operator_of(g: Grounding, skill: str = "", prior: float | None = None) -> Operator:
    """The planner's operator for a catalog grounding (run by library skill ``skill``)."""
    return Operator(g.primitive, g.params, g.pre, g.pre_not, g.add, g.delete, g.delete_patterns,
                    g.prior if prior is None else prior, "declared", skill)


def declared_operators(kinds: dict[str, str], primitives: Iterable[str] | None = None,
                       priors: dict[str, float] | None = None) -> list[Operator]:
    """Grounded operators of the catalog's primitives over a scene's objects (name -> kind).

    ``primitives`` limits them to the primitive names available (e.g. the scripted skills in a library);
    ``priors`` overrides the declared success priors per primitive.
    """
    pri = priors or {}
    return [operator_of(g, prior=pri.get(g.primitive)) for g in ground_operators(kinds, primitives)]


@dataclass
class LearnedEffects:
    """What :func:`learn_operator` observed: per-atom frequencies of becoming true / false."""

    runs: int = 0
    became_true: dict[Atom, int] = field(default_factory=dict)
    became_false: dict[Atom, int] = field(default_factory=dict)
    reached_add: int = 0


def learn_operator(env: Any, make: Callable[[Any], Any], params: dict[str, Any], seeds: Iterable[int],
                   name: str, min_support: float = 0.6, max_steps: int | None = None) -> tuple[Operator, LearnedEffects]:
    """Learn a skill's symbolic effects by running it: ``make(env)`` builds the primitive for each run.

    The add list is the atoms that became true in at least ``min_support`` of the runs, the delete list those
    that became false; preconditions are the atoms that held at every start where the add list came true
    (so only what the skill needed is kept when the start states vary). ``prior`` = fraction of runs
    whose add list came true. An empty add list means the skill changed nothing consistently.
    """
    stats = LearnedEffects()
    starts: list[State] = []
    ends: list[State] = []
    for seed in seeds:
        obs, _ = env.reset(seed=int(seed))
        before = abstract_state(env)
        prim = make(env)
        prim.reset()
        for _ in range(max_steps or prim.horizon):
            obs, *_ = env.step(prim.act(obs))
            if prim.done(obs):
                break
        after = abstract_state(env)
        starts.append(before)
        ends.append(after)
        stats.runs += 1
        for a in after - before:
            stats.became_true[a] = stats.became_true.get(a, 0) + 1
        for a in before - after:
            stats.became_false[a] = stats.became_false.get(a, 0) + 1
    if not stats.runs:
        raise ValueError("learn_operator needs at least one seed")
    need = min_support * stats.runs
    add = frozenset(a for a, c in stats.became_true.items() if c >= need)
    delete = frozenset(a for a, c in stats.became_false.items() if c >= need)
    good = [s for s, e in zip(starts, ends, strict=True) if add and add <= e]
    stats.reached_add = len(good)
    pre = frozenset.intersection(*good) - add if good else frozenset()
    op = Operator(name, tuple(sorted(params.items())), pre=frozenset(pre), add=add, delete=delete,
                  prior=len(good) / stats.runs, source="learned", skill=name)
    return op, stats
