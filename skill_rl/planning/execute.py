"""Monitored execution: plan, run one skill closed-loop, compare what happened with what was predicted, replan.

One implementation drives every world (:mod:`skill_rl.planning.world`): :func:`execute_plan` plans and
monitors over a :class:`~skill_rl.planning.world.World` (the in-process :class:`~skill_rl.planning.world.SimWorld`,
or a ROS 2 world that perceives object poses and sends one ``ExecuteSkill`` goal per step); :func:`run_plan`
is the in-process form (an env and its observation). Per decision the executor:

1. plans from the current symbolic state (:func:`~skill_rl.planning.search.plan_search`) unless the previous
   plan is still on track;
2. asks the step's success classifier (when the skill has one) whether the step can work from here, and
   vetoes it (replans without it) below ``min_success_prob``;
3. has the world run the skill closed-loop until ``done``, its ``horizon``, a timeout, a cancel or a fault;
   a fault (E-stop) or a cancel ends the run at once, naming it; a refused step counts as a failed attempt;
4. monitors: the step's add list must hold, goal atoms that held must still hold, the symbolic state must be
   the predicted one, and (with a dynamics model) the reached object positions must be within
   ``deviation_tol_m`` of the ones the model predicted from the step's actual start state. Any miss is a failure or a deviation: the step is counted
   against its attempt budget and the executor replans from the state actually reached;
5. gives up, with the reason, when the decision, attempt or env-step budget is spent or no plan exists.

``on_event(kind, data)`` hears ``plan`` (a new plan), ``step`` (a step starts), ``step_done`` (its verdict),
``replan`` (the plan was dropped, and why) and ``finished``; the ROS task executor publishes them as feedback.

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
from skill_rl.library.catalog import CATALOG, ground_operators

from .search import Plan, SearchConfig, plan_search
from .symbolic import Operator, State, declared_operators, normalise_goal, operator_of
from .world import SimWorld, StepOutcome, StepRequest, World

__all__ = ["DropObject", "ExecConfig", "SkillSet", "atoms_text", "declared_primitives", "execute_plan", "run_plan"]

EventFn = Callable[[str, dict[str, Any]], None]


def declared_primitives() -> tuple[str, ...]:
    """Catalog primitives that declare symbolic effects (the planner's declared operators come from these)."""
    return tuple(n for n, spec in CATALOG.items() if spec.cases)


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
    """The planner's view of a skill library: operators for the scene and the entries that run them.

    Scripted skills (``kind="scripted"``, no bound arguments) contribute the declared operators of their
    catalog primitive; a learned entry that *implements* a catalog primitive (``params["implements"]``, all
    arguments bound) contributes the same primitive's operators for its binding, run by that entry; entries
    with learned models (``params["models"]``) add their classifier and dynamics model.
    """

    def __init__(self, library: Any) -> None:
        self.library = library
        entries = library.list()
        if not entries:
            raise UserError(f"the skill library at {getattr(library, 'root', library)} is empty; add the scripted "
                            f"primitives with `skill-rl skills add-scripted --library <folder>`")
        self.entries = {e.name: e for e in entries}
        latest = {e.name: e for e in entries}  # sorted by name then version: the latest of each name
        declared = set(declared_primitives())
        self.scripted: dict[str, Any] = {}
        self.implementing: list[Any] = []  # learned entries that implement a catalog primitive
        for e in latest.values():
            prim = str(e.params.get("primitive", "")) if e.kind == "scripted" else ""
            if prim in declared and not e.params.get("bound") and prim not in self.scripted:
                self.scripted[prim] = e
            elif e.kind != "scripted" and e.implements is not None and e.implements[0] in declared:
                self.implementing.append(e)
        self._models: dict[str, Any] = {}
        self.learned: list[Operator] = []
        self.learn_report: dict[str, Any] = {}

    def operators(self, kinds: dict[str, str]) -> list[Operator]:
        ops = [operator_of(g, self.scripted[g.primitive].name) for g in ground_operators(kinds, list(self.scripted))]
        for e in self.implementing:
            name, bound = e.implements
            prior = e.metrics.get("success_rate")
            prior = float(prior) if isinstance(prior, (int, float)) and 0 < prior <= 1 else None
            for op in declared_operators(kinds, [name]):
                if all(op.kwargs.get(k) == v for k, v in bound.items()):
                    ops.append(Operator(op.primitive, op.params, op.pre, op.pre_not, op.add, op.delete,
                                        op.delete_patterns, op.prior if prior is None else prior, op.source, e.name))
        return ops + list(self.learned)

    def learn_effects(self, env: Any, seeds: Any = range(4), min_support: float = 0.6) -> list[Operator]:
        """Learn operators for the skills without declared effects (runs them in ``env``; resets it).

        Candidates: skills that need no arguments at load time (SLIM skills with their ``z``, scripted skills
        with all arguments bound); goal-conditioned ones (Play-LMP, BC) need a goal and are skipped, and so are
        learned skills that implement a catalog primitive (their effects are declared). Skills that do not fit
        the env's specs are skipped; ``learn_report`` says why for each.
        """
        from .symbolic import learn_operator

        self.learned = []
        for e in self.entries.values():
            declared = (e.kind == "scripted" and e.name in {x.name for x in self.scripted.values()}) or \
                (e.kind != "scripted" and e.implements is not None)
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

    def success(self, obs: np.ndarray) -> bool | None:
        return self.inner.success(obs) if hasattr(self.inner, "success") else None


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
    skill: str = ""  # name@vN of the entry that ran it
    status: str = ""  # how the world says the step ended (world.STATUSES), "vetoed" when it never ran
    message: str = ""  # the world's word on it (a fault's description, why it was refused)


def _positions(obs: np.ndarray, layout: dict[str, slice], kinds: dict[str, str]) -> dict[str, np.ndarray]:
    return {n: np.asarray(obs[layout[f"{n}_pos"]], dtype=float) for n, k in kinds.items()
            if k in ("cube", "cylinder") and f"{n}_pos" in layout}


def run_plan(env: Any, obs: np.ndarray, goal: Any, skills: SkillSet, *, search: SearchConfig | None = None,
             config: ExecConfig | None = None, on_step: Callable[[Any, np.ndarray], None] | None = None,
             inject: Callable[[int, Operator, Any], Any] | None = None, state_goal: Any = None,
             on_event: EventFn | None = None) -> dict[str, Any]:
    """Reach the goal atoms in ``env`` (already reset; ``obs`` its observation); return the trace (JSON-able).

    The in-process form of :func:`execute_plan` over a :class:`~skill_rl.planning.world.SimWorld`:
    ``on_step(env, obs)`` is called after every env step (video frames); ``inject(decision, op, skill)`` may
    wrap a skill (fault injection); ``state_goal`` (a :class:`~skill_rl.planning.goals.StateGoal`) adds
    target object positions to the goal.
    """
    cfg = config or ExecConfig()
    world = SimWorld(env, obs, max_env_steps=cfg.max_env_steps, on_step=on_step, inject=inject)
    return execute_plan(world, goal, skills, search=search, config=cfg, state_goal=state_goal, on_event=on_event)


def execute_plan(world: World, goal: Any, skills: SkillSet, *, search: SearchConfig | None = None,
                 config: ExecConfig | None = None, state_goal: Any = None,
                 on_event: EventFn | None = None) -> dict[str, Any]:
    """Plan, execute step by step in ``world`` and monitor until ``goal`` (atoms) holds; return the trace.

    See the module docstring for the loop. The trace's ``outcome`` is ``success``, ``gave_up`` (budgets spent
    or no plan), ``fault`` (a step ended in a fault: nothing ran after it) or ``cancelled``; ``reason`` says why.
    """
    cfg = config or ExecConfig()
    scfg = search or SearchConfig()
    emit = on_event or (lambda kind, data: None)
    kinds = world.kinds()
    layout = world.layout()
    goal_set = normalise_goal(goal, kinds)
    ops = skills.operators(kinds)
    if state_goal is not None:
        state_goal.check(kinds)
        goal_set = goal_set | state_goal.atoms()
        if "push" in skills.scripted:
            ops += [Operator(o.primitive, o.params, o.pre, o.pre_not, o.add, o.delete, o.delete_patterns, o.prior,
                             o.source, skills.scripted["push"].name) for o in state_goal.operators(kinds)]

    def perceive() -> tuple[Any, State]:
        o = world.observe()
        s = world.abstract_state()
        return o, (s | state_goal.holding(world.scene()) if state_goal is not None else s)
    if not any(a[0] == "Lifted" for a in goal_set):  # holding something blocks every other step: only as a goal
        ops = [op for op in ops if op.primitive != "lift"]
    if not ops:
        raise UserError("no usable skills for this scene: the library has none of the scripted primitives "
                        f"({', '.join(declared_primitives())}), no learned skill implementing one and no skill "
                        "with learned effects (SkillSet.learn_effects)")
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

    obs, state = perceive()
    plan: Plan | None = None
    attempts: dict[Operator, int] = {}
    excluded: set[Operator] = set()
    decisions: list[Decision] = []
    env_steps = 0
    outcome, reason = "gave_up", ""
    t_start = time.perf_counter()

    def replan(d: Decision, why: str) -> None:
        emit("replan", {"decision": d.index, "reason": why})

    while True:
        if goal_set <= state:
            outcome, reason = "success", "all goal atoms hold"
            break
        if len(decisions) >= cfg.max_decisions:
            reason = f"decision budget spent ({cfg.max_decisions} primitive calls); unsatisfied: " \
                     f"{', '.join(atoms_text(goal_set - state))}"
            break
        left = world.steps_left()
        if left is not None and left <= 0:
            total = getattr(world, "max_steps", None)
            reason = (f"env step budget spent{f' ({total} steps)' if total else ''}; unsatisfied: "
                      f"{', '.join(atoms_text(goal_set - state))}")
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
            emit("plan", {"decision": len(decisions), "state": atoms_text(state), "plan": plan.describe(),
                          "success_prob": plan.success_prob, "complete": plan.complete,
                          "planning_time_s": plan.time_s})
        assert plan is not None
        op, expected = plan.steps[0], plan.states[0]
        entry = skills.entry(op)
        d = Decision(len(decisions), atoms_text(state), replanned, plan.describe(), plan.success_prob, plan.complete,
                     plan.time_s if replanned else 0.0, plan.expansions if replanned else 0, str(op), skill=entry.key)
        # one-step prediction from where the world really is (chained predictions only rank plans)
        predicted = predictor(op, np.asarray(obs))
        d.classifier_p = success_p(op, np.asarray(obs))
        if d.classifier_p is not None and d.classifier_p < cfg.min_success_prob:
            d.event, d.status = "vetoed: classifier says it will fail from here", "vetoed"
            excluded.add(op)
            decisions.append(d)
            replan(d, d.event)
            plan = None
            continue
        emit("step", {"decision": d.index, "step": d.step, "skill": d.skill, "params": op.kwargs,
                      "classifier_p": d.classifier_p})
        result: StepOutcome = world.execute(StepRequest(d.index, op, entry, op.kwargs))
        d.status, d.message, d.env_steps = result.status, result.message, result.steps
        env_steps += result.steps
        if result.status in ("fault", "cancelled"):
            d.event = f"{result.status}: {result.fault + ': ' if result.fault else ''}{result.message}"
            decisions.append(d)
            outcome = result.status
            reason = (f"fault during {op}: {result.fault or 'fault'} ({result.message}); no further step was run"
                      if result.status == "fault" else f"cancelled during {op}: {result.message}")
            emit("step_done", {"decision": d.index, "step": d.step, "status": d.status, "event": d.event,
                               "env_steps": d.env_steps, "effects_hold": False})
            break
        if result.status == "refused":  # never started; counts as an attempt (stale perception may pass)
            attempts[op] = attempts.get(op, 0) + 1
            excluded_now = attempts[op] >= cfg.max_attempts_per_step
            if excluded_now:
                excluded.add(op)
            d.event = f"refused: {result.message}{f'; {op} excluded' if excluded_now else ''} -> replan"
            decisions.append(d)
            emit("step_done", {"decision": d.index, "step": d.step, "status": d.status, "event": d.event,
                               "env_steps": d.env_steps, "effects_hold": False})
            replan(d, d.event)
            plan = None
            obs, state = perceive()
            continue
        held = {a for a in state if a in goal_set}
        obs, reached = perceive()
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
            kind = f"stopped: {result.message}; " if result.status == "stopped" else \
                ("failed: " if not d.effects_hold else "deviation: ")
            d.event = kind + "; ".join(problems) + " -> replan"
            plan = None
        decisions.append(d)
        emit("step_done", {"decision": d.index, "step": d.step, "status": d.status, "event": d.event,
                           "env_steps": d.env_steps, "effects_hold": d.effects_hold})
        if plan is None:
            replan(d, d.event)
        state = reached
    trace = {
        "outcome": outcome,
        "success": outcome == "success",
        "reason": reason,
        "goal": atoms_text(goal_set),
        "final_state": atoms_text(state),
        "decisions": [asdict(x) for x in decisions],
        "env_steps": env_steps,
        "replans": sum(x.replanned for x in decisions),
        "failures": sum(x.event.startswith(("failed", "deviation", "vetoed", "refused", "fault", "stopped"))
                       for x in decisions),
        "planning_time_s": [x.planning_time_s for x in decisions if x.replanned],
        "wall_time_s": time.perf_counter() - t_start,
        "search": asdict(scfg),
        "exec": asdict(cfg),
    }
    emit("finished", {"outcome": outcome, "success": outcome == "success", "reason": reason,
                      "env_steps": env_steps, "decisions": len(decisions)})
    return trace
