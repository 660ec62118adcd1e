"""Monitored execution: plan, run one primitive closed-loop, compare what happened with what was predicted, replan.

Per decision the executor (:func:`run_plan`):

1. plans from the current symbolic state (:func:`~skill_rl.planning.search.plan_search`) unless the previous
   plan is still on track;
2. asks the step's success classifier (when the skill has one) whether the step can work from here, and
   vetoes it (replans without it) below ``min_success_prob``;
3. runs the primitive closed-loop until ``done`` or its ``horizon``;
4. monitors: the step's add list must hold, goal atoms that held must still hold, the symbolic state must be
   the predicted one, and (with a dynamics model) the reached object positions must be within
   ``deviation_tol_m`` of the ones the model predicted from the step's actual start state. Any miss is a failure or a deviation: the step is counted
   against its attempt budget and the executor replans from the state actually reached;
5. gives up, with the reason, when the decision, attempt or env-step budget is spent or no plan exists.

Skills come only from :mod:`skill_rl.library` (:class:`SkillSet`); learned models are applied through
``skill_rl.planning.skill_models.SkillModels`` when an entry has them (torch is imported only then).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from skill_rl.errors import UserError

from .search import Plan, SearchConfig, plan_search
from .symbolic import Operator, State, abstract_state, declared_operators, normalise_goal

__all__ = ["DropObject", "ExecConfig", "SkillSet", "atoms_text", "run_plan"]

SCRIPTED_SCHEMAS = ("pick_place", "push", "open_drawer", "close_drawer", "lift")


def atoms_text(atoms: Any) -> list[str]:
    return sorted(f"{a[0]}({', '.join(a[1:])})" for a in atoms)


@dataclass
class ExecConfig:
    """Execution budgets and monitoring thresholds."""

    max_decisions: int = 16
    max_attempts_per_step: int = 3  # the same grounded step failing this often is excluded from planning
    deviation_tol_m: float = 0.05  # reached vs predicted object position (needs a dynamics model)
    min_success_prob: float = 0.2  # classifier veto below this
    max_env_steps: int | None = None  # default: the env's max_episode_steps


class SkillSet:
    """The planner's view of a skill library: operators for the scene and runnable primitives for them.

    Scripted skills (``kind="scripted"``) contribute the declared operators of their primitive; a skill
    entry with learned models (``params["models"]``) adds its classifier and dynamics model.
    """

    def __init__(self, library: Any) -> None:
        self.library = library
        entries = library.list()
        if not entries:
            raise UserError(f"the skill library at {getattr(library, 'root', library)} is empty; add the scripted "
                            f"primitives with `skill-rl skills add-scripted --library <folder>`")
        self.entries = {e.name: e for e in entries}
        self.scripted: dict[str, Any] = {}
        for e in entries:
            prim = str(e.params.get("primitive", "")) if e.kind == "scripted" else ""
            if prim in SCRIPTED_SCHEMAS and not e.params.get("bound") and prim not in self.scripted:
                self.scripted[prim] = e
        self._models: dict[str, Any] = {}
        self.learned: list[Operator] = []
        self.learn_report: dict[str, Any] = {}

    def operators(self, kinds: dict[str, str]) -> list[Operator]:
        ops = declared_operators(kinds, primitives=self.scripted)
        return [Operator(o.primitive, o.params, o.pre, o.pre_not, o.add, o.delete, o.delete_patterns, o.prior,
                         o.source, self.scripted[o.primitive].name) for o in ops] + list(self.learned)

    def learn_effects(self, env: Any, seeds: Any = range(4), min_support: float = 0.6) -> list[Operator]:
        """Learn operators for the skills without declared effects (runs them in ``env``; resets it).

        Candidates: skills that need no arguments at load time (SLIM skills with their ``z``, scripted skills
        with all arguments bound); goal-conditioned ones (Play-LMP, BC) need a goal and are skipped. Skills that
        do not fit the env's specs are skipped; ``learn_report`` says why for each.
        """
        from .symbolic import learn_operator

        self.learned = []
        for e in self.entries.values():
            declared = e.kind == "scripted" and e.name in {x.name for x in self.scripted.values()}
            needs_args = e.kind == "scripted" and set(e.params.get("args", [])) - set(e.params.get("bound", {}))
            if declared or needs_args or e.kind in ("play_lmp", "bc"):
                continue
            try:
                e.check(env)
            except UserError as exc:  # spec mismatch or a binding to objects this scene lacks
                self.learn_report[e.key] = f"skipped: {exc}"
                continue
            op, stats = learn_operator(env, lambda env_, e=e: e.load(env_), {}, seeds, name=e.name,
                                       min_support=min_support)
            self.learn_report[e.key] = {"add": atoms_text(op.add), "delete": atoms_text(op.delete),
                                        "prior": op.prior, "runs": stats.runs}
            if op.add:
                self.learned.append(op)
        return self.learned

    def entry(self, op: Operator) -> Any:
        return self.entries[op.skill] if op.skill in self.entries else self.scripted[op.primitive]

    def load(self, env: Any, op: Operator) -> Any:
        return self.entry(op).load(env, **op.kwargs)

    def models(self, op: Operator) -> Any | None:
        """``SkillModels`` of the op's skill, or None when it has none."""
        entry = self.entry(op)
        if entry.key not in self._models:
            model = None
            if entry.params.get("models") and "dynamics.pt" in entry.files:
                from .skill_models import SkillModels  # torch only when a learned model exists

                model = SkillModels(entry)
            self._models[entry.key] = model
        return self._models[entry.key]

    @property
    def has_models(self) -> bool:
        return any(e.params.get("models") for e in self.entries.values())


class DropObject:
    """Fault injection: wraps a primitive and opens the gripper once it has carried something for
    ``after_steps`` steps (the cube drops mid-plan). Used to test that the executor notices and recovers."""

    def __init__(self, primitive: Any, after_steps: int = 8) -> None:
        self.inner = primitive
        self.after = after_steps
        self.horizon = primitive.horizon
        self.carried = 0
        self.dropped = False

    def reset(self) -> None:
        self.inner.reset()
        self.carried = 0
        self.dropped = False

    def act(self, obs: np.ndarray) -> np.ndarray:
        action = np.array(self.inner.act(obs), dtype=np.float32)
        if getattr(self.inner, "phase", "") in ("lift", "carry"):
            self.carried += 1
        if self.carried >= self.after:
            self.dropped = True
        if self.dropped:
            action[:6] = 0.0
            action[6] = -1.0  # open: let go of whatever is held
        return action

    def done(self, obs: np.ndarray) -> bool:
        return self.dropped and self.carried >= self.after + 10 or self.inner.done(obs)


@dataclass
class Decision:
    index: int
    state: list[str]
    replanned: bool
    plan: list[str]
    plan_success_prob: float
    plan_complete: bool
    planning_time_s: float
    expansions: int
    step: str
    classifier_p: float | None = None
    env_steps: int = 0
    effects_hold: bool = False
    lost_goal_atoms: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    deviation_m: float | None = None
    event: str = ""


def _positions(obs: np.ndarray, layout: dict[str, slice], kinds: dict[str, str]) -> dict[str, np.ndarray]:
    return {n: np.asarray(obs[layout[f"{n}_pos"]], dtype=float) for n, k in kinds.items()
            if k in ("cube", "cylinder") and f"{n}_pos" in layout}


def run_plan(env: Any, obs: np.ndarray, goal: Any, skills: SkillSet, *, search: SearchConfig | None = None,
             config: ExecConfig | None = None, on_step: Callable[[Any, np.ndarray], None] | None = None,
             inject: Callable[[int, Operator, Any], Any] | None = None,
             state_goal: Any = None) -> dict[str, Any]:
    """Reach the goal atoms in ``env`` (already reset; ``obs`` its observation); return the trace (JSON-able).

    ``on_step(env, obs)`` is called after every env step (video frames); ``inject(decision, op, primitive)``
    may wrap a primitive (fault injection); ``state_goal`` (a :class:`~skill_rl.planning.goals.StateGoal`)
    adds target object positions to the goal.
    """
    cfg = config or ExecConfig()
    scfg = search or SearchConfig()
    base = env.unwrapped
    kinds = {o.name: o.kind for o in base.task.objects}
    layout = base.obs_layout
    goal_set = normalise_goal(goal, kinds)
    ops = skills.operators(kinds)
    if state_goal is not None:
        state_goal.check(kinds)
        goal_set = goal_set | state_goal.atoms()
        if "push" in skills.scripted:
            ops += [Operator(o.primitive, o.params, o.pre, o.pre_not, o.add, o.delete, o.delete_patterns, o.prior,
                             o.source, skills.scripted["push"].name) for o in state_goal.operators(kinds)]

    def observe() -> State:
        s = abstract_state(env)
        return s | state_goal.holding(env) if state_goal is not None else s
    if not any(a[0] == "Lifted" for a in goal_set):  # holding something blocks every other step: only as a goal
        ops = [op for op in ops if op.primitive != "lift"]
    if not ops:
        raise UserError("no usable skills for this scene: the library has none of the scripted primitives "
                        f"({', '.join(SCRIPTED_SCHEMAS)}) and no skill with learned effects (SkillSet.learn_effects)")
    max_steps = cfg.max_env_steps or base.config.max_episode_steps
    use_models = skills.has_models

    unsupported: set[Operator] = set()  # bindings a skill's models cannot read (e.g. fitted on cube targets only)

    def model_of(op: Operator) -> Any:
        return skills.models(op) if use_models and op not in unsupported else None

    def success_p(op: Operator, o: Any) -> float | None:
        m = model_of(op)
        if m is None or m.classifier is None or o is None:
            return None
        try:
            return float(m.success_prob(o, layout, **op.kwargs))
        except UserError:
            unsupported.add(op)
            return None

    def scorer(op: Operator, o: Any) -> float:
        p = success_p(op, o)
        return op.prior if p is None else p

    def predictor(op: Operator, o: Any) -> Any:
        m = model_of(op)
        if m is None or m.dynamics is None or o is None:
            return None
        try:
            return m.predict(o, layout, **op.kwargs)
        except UserError:
            unsupported.add(op)
            return None

    state: State = observe()
    plan: Plan | None = None
    attempts: dict[Operator, int] = {}
    excluded: set[Operator] = set()
    decisions: list[Decision] = []
    env_steps = 0
    outcome, reason = "gave_up", ""
    t_start = time.perf_counter()
    while True:
        if goal_set <= state:
            outcome, reason = "success", "all goal atoms hold"
            break
        if len(decisions) >= cfg.max_decisions:
            reason = f"decision budget spent ({cfg.max_decisions} primitive calls); unsatisfied: " \
                     f"{', '.join(atoms_text(goal_set - state))}"
            break
        if env_steps >= max_steps:
            reason = f"env step budget spent ({max_steps} steps); unsatisfied: {', '.join(atoms_text(goal_set - state))}"
            break
        replanned = plan is None or not plan.steps
        if replanned:
            plan = plan_search(state, goal_set, ops, scfg, scorer=scorer, predictor=predictor,
                               obs=np.asarray(obs) if use_models else None, exclude=excluded)
            if not plan.steps:
                why = ", ".join(atoms_text(goal_set - state))
                reason = (f"no plan: no applicable skill makes progress towards {why}"
                          + (f" (excluded after repeated failures: {', '.join(map(str, excluded))})" if excluded else ""))
                break
        assert plan is not None
        op, expected = plan.steps[0], plan.states[0]
        d = Decision(len(decisions), atoms_text(state), replanned, plan.describe(), plan.success_prob, plan.complete,
                     plan.time_s if replanned else 0.0, plan.expansions if replanned else 0, str(op))
        # one-step prediction from where the world really is (chained predictions only rank plans)
        predicted = predictor(op, np.asarray(obs))
        d.classifier_p = success_p(op, np.asarray(obs))
        if d.classifier_p is not None:
            if d.classifier_p < cfg.min_success_prob:
                d.event = "vetoed: classifier says it will fail from here"
                excluded.add(op)
                decisions.append(d)
                plan = None
                continue
        prim = skills.load(env, op)
        if inject is not None:
            prim = inject(len(decisions), op, prim)
        prim.reset()
        held = {a for a in state if a in goal_set}
        for _ in range(prim.horizon):
            obs, _, _, _, _ = env.step(prim.act(obs))
            env_steps += 1
            d.env_steps += 1
            if on_step is not None:
                on_step(env, obs)
            if prim.done(obs) or env_steps >= max_steps:
                break
        reached = observe()
        d.effects_hold = op.add <= reached
        d.lost_goal_atoms = atoms_text((held & expected) - reached)  # planned deletions do not count
        d.unexpected = atoms_text(reached ^ expected)
        if predicted is not None:
            pp, rp = _positions(predicted, layout, kinds), _positions(np.asarray(obs), layout, kinds)
            d.deviation_m = float(max(np.linalg.norm(pp[n] - rp[n]) for n in pp)) if pp else 0.0
        deviated = d.deviation_m is not None and d.deviation_m > cfg.deviation_tol_m
        if d.effects_hold and not d.lost_goal_atoms and not d.unexpected and not deviated:
            d.event = "ok"
            plan = Plan(plan.steps[1:], plan.states[1:], plan.log_prob, plan.complete, plan.expansions, 0.0,
                        plan.predicted_obs[1:], plan.unsatisfied)
            if not plan.complete and not plan.steps:
                plan = None
        else:
            problems = []
            if not d.effects_hold:
                problems.append(f"effects not reached: {', '.join(atoms_text(op.add - reached))}")
            if d.lost_goal_atoms:
                problems.append(f"undid goal atoms: {', '.join(d.lost_goal_atoms)}")
            if d.unexpected and d.effects_hold:
                problems.append(f"state differs from the plan's prediction: {', '.join(d.unexpected)}")
            if deviated:
                problems.append(f"objects {d.deviation_m:.3f} m from the predicted positions")
            attempts[op] = attempts.get(op, 0) + 1
            if not d.effects_hold and attempts[op] >= cfg.max_attempts_per_step:
                excluded.add(op)
                problems.append(f"{op} failed {attempts[op]} times: excluded")
            d.event = ("failed: " if not d.effects_hold else "deviation: ") + "; ".join(problems) + " -> replan"
            plan = None
        decisions.append(d)
        state = reached
    return {
        "outcome": outcome,
        "success": outcome == "success",
        "reason": reason,
        "goal": atoms_text(goal_set),
        "final_state": atoms_text(state),
        "decisions": [asdict(x) for x in decisions],
        "env_steps": env_steps,
        "replans": sum(x.replanned for x in decisions),
        "failures": sum(x.event.startswith(("failed", "deviation", "vetoed")) for x in decisions),
        "planning_time_s": [x.planning_time_s for x in decisions if x.replanned],
        "wall_time_s": time.perf_counter() - t_start,
        "search": asdict(scfg),
        "exec": asdict(cfg),
    }
