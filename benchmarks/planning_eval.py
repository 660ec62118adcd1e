"""Success of the planner on the long-horizon task files, over many seeds, against its baselines.

Conditions, each on the same seeds of every ``tasks/*.task``:

* ``planner``: beam search over the scripted primitives of a skill library + monitored execution (replanning);
* ``planner_drop``: the same with a fault injected: the first ``pick_place`` drops what it carries
  (``DropObject``), so success needs detection and recovery;
* ``scripted_plan``: the fixed ordering of ``scripted_plan`` run by ``ScriptedDemonstrator`` (skips steps that
  hold, retries a failed step, never re-orders): the hand-written baseline; ``scripted_plan_drop`` with the
  same injected drop.

* ``flat_policy`` (with ``--flat-policy runs/.../policy.pt`` from ``skill-rl play train``, or ``--flat-skill NAME
  --skills ROOT``): one goal-conditioned policy (Play-LMP / Play-GCBC, loaded through the skill library) run
  for the whole episode, given as goal the final observation of a successful scripted-plan run on the same
  seed (the privileged goal state Play-LMP is evaluated with). It only runs on task files whose observation
  layout matches the policy's (``tasks/play_scene_*.task`` have the play scene's layout).

* ``planner_models`` (with ``--with-models``): the planner over a library whose ``pick_place`` has a learned
  dynamics model and success classifier (``skill_rl.planning.skill_models.fit_skill_models``, fitted per task
  scene from ``--model-rollouts`` runs with random bindings): step probabilities from the classifier on
  predicted states, the classifier's veto, and predicted-vs-reached monitoring.

* ``planner_learned`` (with ``--learned-skills ROOT``): the planner over a library of learned skills only (e.g.
  SLIM skills exported by ``skill-rl discover``), on the task files whose observation layout the skills fit
  (``tasks/push_scene_region.task`` has TabletopPush-v0's): their symbolic effects are learned first by running
  each skill from ``--learn-seeds`` starts (``SkillSet.learn_effects``), then the planner uses those operators.

Writes ``benchmarks/results/planning_eval.json``.

    python benchmarks/planning_eval.py            # 50 seeds per task (~10 min on 2 cores)
    python benchmarks/planning_eval.py --debug    # 3 seeds, 2 tasks (seconds)
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a success rate."""
    if n == 0:
        return (0.0, 0.0)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def run_demonstrator(env, spec, seed: int, drop: bool = False) -> dict:
    from skill_rl.library import make_scripted
    from skill_rl.library.demonstrator import ScriptedDemonstrator
    from skill_rl.planning.execute import DropObject

    made = []

    def make(env_, name, **params):  # with ``drop``, the first pick_place drops what it carries
        prim = make_scripted(env_, name, **params)
        made.append(name)
        return DropObject(prim, after_steps=6) if drop and made.count("pick_place") == 1 and name == "pick_place" \
            else prim

    obs, info = env.reset(seed=seed)
    demo = ScriptedDemonstrator(env, spec, make=make)
    steps = 0
    for steps in range(1, env.unwrapped.config.max_episode_steps + 1):  # noqa: B007 - steps used after the loop
        obs, _, _, truncated, info = env.step(demo.act(obs))
        if demo.finished or truncated:
            break
    return {"success": bool(info["is_success"]), "env_steps": steps}


def flat_entry(args):
    """The flat goal-conditioned policy as a library entry, or None."""
    if args.flat_policy:
        from skill_rl.library import SkillLibrary
        from skill_rl.play.export import export_play_policy  # a benchmark may import skill_rl.play

        return export_play_policy(args.flat_policy, SkillLibrary(tempfile.mkdtemp(prefix="flat_")), name="flat")
    if args.flat_skill:
        from skill_rl.library import SkillLibrary

        return SkillLibrary(args.skills).get(args.flat_skill)
    return None


def run_flat(env, spec, entry, seed: int) -> dict:
    """Goal = the end observation of a successful scripted run on this seed; then the policy alone."""
    from skill_rl.library.demonstrator import ScriptedDemonstrator

    obs, info = env.reset(seed=seed)
    demo = ScriptedDemonstrator(env, spec)
    for _ in range(env.unwrapped.config.max_episode_steps):
        obs, _, _, _, info = env.step(demo.act(obs))
        if demo.finished:
            break
    if not info["is_success"]:
        return {"success": False, "env_steps": 0, "no_goal": True}
    goal = np.asarray(obs, dtype=np.float32).copy()
    obs, info = env.reset(seed=seed)
    prim = entry.load(env, goal=goal)
    prim.reset()
    steps = 0
    for steps in range(1, env.unwrapped.config.max_episode_steps + 1):  # noqa: B007
        obs, _, _, truncated, info = env.step(prim.act(obs))
        if info["is_success"] or truncated:
            break
        if prim.done(obs):
            prim.reset()
    return {"success": bool(info["is_success"]), "env_steps": steps, "no_goal": False}


def learned_skillset(root: Path, env, n_seeds: int):
    """(SkillSet with learned operators, report) for the learned skills in ``root`` that fit ``env``; (None, why)."""
    from skill_rl.errors import UserError
    from skill_rl.library import SkillLibrary
    from skill_rl.planning.execute import SkillSet

    try:
        skills = SkillSet(SkillLibrary(root))
    except UserError as exc:
        return None, f"not run: {exc}"
    skills.scripted.clear()  # learned skills only
    learned = skills.learn_effects(env, seeds=range(50_000, 50_000 + n_seeds))
    report = {"learned_operators": [{"skill": op.skill, "add": sorted(map(str, op.add)), "prior": op.prior}
                                    for op in learned], "skills": skills.learn_report}
    fits = [k for k, v in skills.learn_report.items() if isinstance(v, dict)]
    if not fits:
        return None, {"not_run": "no learned skill fits this scene", **report}
    return skills, report


def fit_models(spec, n_rollouts: int):
    """A fresh scripted library whose pick_place has a dynamics model and classifier fitted in this scene."""
    import torch

    from skill_rl.envs import make_task_env
    from skill_rl.library import SkillLibrary, add_scripted_primitives
    from skill_rl.planning.execute import SkillSet
    from skill_rl.planning.skill_models import fit_skill_models

    torch.set_num_threads(1)
    free = [o.name for o in spec.objects if o.kind in ("cube", "cylinder")]
    targets = [o.name for o in spec.objects if o.kind in ("cube", "cylinder", "region")]
    if len(free) < 1 or len(targets) < 2:
        return None, None

    def binding(env, rng):
        obj = str(rng.choice(free))
        return {"obj": obj, "target": str(rng.choice([t for t in targets if t != obj]))}

    lib = SkillLibrary(tempfile.mkdtemp(prefix="planning_eval_models_"))
    add_scripted_primitives(lib)
    rep = fit_skill_models(lib, "pick_place", lambda: make_task_env(spec), n_rollouts, params=binding, seed=7)
    return SkillSet(lib), {"rollouts": n_rollouts, "dynamics": {k: rep.dynamics[k] for k in
                                                                 ("heldout_error_m", "nothing_moves_error_m")},
                           "classifier": {k: rep.classifier[k] for k in ("heldout_accuracy", "majority_accuracy",
                                                                          "success_rate")}}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--tasks", nargs="*", default=None, help="task files (default: tasks/*.task)")
    ap.add_argument("--beam-width", type=int, default=4)
    ap.add_argument("--debug", action="store_true", help="3 seeds, 2 tasks")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "planning_eval.json")
    ap.add_argument("--flat-policy", type=Path, default=None, help="a Play-LMP/GCBC policy.pt (flat baseline)")
    ap.add_argument("--flat-skill", default=None, help="a play_lmp/bc skill name in --skills (flat baseline)")
    ap.add_argument("--skills", type=Path, default=None, help="library folder for --flat-skill")
    ap.add_argument("--with-models", action="store_true", help="also run the planner with learned skill models")
    ap.add_argument("--learned-skills", type=Path, default=None, help="library of learned skills (SLIM, ...)")
    ap.add_argument("--learn-seeds", type=int, default=6)
    ap.add_argument("--model-rollouts", type=int, default=40)
    args = ap.parse_args(argv)

    from skill_rl.envs import make_task_env
    from skill_rl.errors import UserError
    from skill_rl.library import SkillLibrary, add_scripted_primitives
    from skill_rl.planning.execute import DropObject, SkillSet, run_plan
    from skill_rl.planning.search import SearchConfig
    from skill_rl.planning.tasklang import load_task
    from skill_rl.runs import atomic_write_text

    paths = [Path(p) for p in args.tasks] if args.tasks else sorted((REPO / "tasks").glob("*.task"))
    seeds = list(range(3 if args.debug else args.seeds))
    if args.debug:
        paths = paths[:2]
    lib = SkillLibrary(tempfile.mkdtemp(prefix="planning_eval_lib_"))
    add_scripted_primitives(lib)
    skills = SkillSet(lib)
    search = SearchConfig(beam_width=args.beam_width)
    flat = flat_entry(args)
    flat_notes: dict[str, str] = {}
    learned_notes: dict[str, object] = {}
    results: dict = {}
    t0 = time.perf_counter()
    for path in paths:
        spec = load_task(path)
        env = make_task_env(spec)
        rows: dict[str, list[dict]] = {"planner": [], "planner_drop": [], "scripted_plan": [], "scripted_plan_drop": []}
        model_skills, model_fit = None, None
        learned_skills, learned_report = None, None
        if args.learned_skills is not None:
            learned_skills, learned_report = learned_skillset(args.learned_skills, env, args.learn_seeds)
            learned_notes[spec.name] = learned_report
        if args.with_models:
            model_skills, model_fit = fit_models(spec, args.model_rollouts if not args.debug else 8)
        for seed in seeds:
            s = 10_000 + seed  # not the seeds the tests use
            obs, _ = env.reset(seed=s)
            tr = run_plan(env, obs, spec.goal, skills, search=search)
            rows["planner"].append({"success": tr["success"], "env_steps": tr["env_steps"], "replans": tr["replans"],
                                    "failures": tr["failures"], "planning_time_s": tr["planning_time_s"],
                                    "reason": tr["reason"]})
            obs, _ = env.reset(seed=s)
            injected: list[str] = []

            def inject(i, op, prim, injected=injected):  # the first pick_place drops what it carries
                if op.primitive == "pick_place" and not injected:
                    injected.append(str(op))
                    return DropObject(prim, after_steps=6)
                return prim

            tr = run_plan(env, obs, spec.goal, skills, search=search, inject=inject)
            rows["planner_drop"].append({"success": tr["success"], "env_steps": tr["env_steps"],
                                         "replans": tr["replans"], "failures": tr["failures"],
                                         "planning_time_s": tr["planning_time_s"], "reason": tr["reason"]})
            rows["scripted_plan"].append(run_demonstrator(env, spec, s))
            rows["scripted_plan_drop"].append(run_demonstrator(env, spec, s, drop=True))
            if learned_skills is not None:
                obs, _ = env.reset(seed=s)
                try:
                    tr = run_plan(env, obs, spec.goal, learned_skills, search=search)
                except UserError as exc:  # no operator at all: nothing the learned skills do consistently
                    tr = {"success": False, "env_steps": 0, "replans": 0, "failures": 0, "planning_time_s": [],
                          "reason": str(exc)}
                rows.setdefault("planner_learned", []).append({
                    "success": tr["success"], "env_steps": tr["env_steps"], "replans": tr["replans"],
                    "failures": tr["failures"], "planning_time_s": tr["planning_time_s"], "reason": tr["reason"]})
            if model_skills is not None:
                obs, _ = env.reset(seed=s)
                tr = run_plan(env, obs, spec.goal, model_skills, search=search)
                rows.setdefault("planner_models", []).append({
                    "success": tr["success"], "env_steps": tr["env_steps"], "replans": tr["replans"],
                    "failures": tr["failures"], "planning_time_s": tr["planning_time_s"], "reason": tr["reason"],
                    "vetoes": sum(d["event"].startswith("vetoed") for d in tr["decisions"]),
                    "deviation_m": [d["deviation_m"] for d in tr["decisions"] if d["deviation_m"] is not None]})
            if flat is not None:
                try:
                    flat.check(env)
                except Exception as exc:  # noqa: BLE001 - a spec mismatch: this task cannot host the policy
                    flat_notes[spec.name] = f"not run: {exc}"
                else:
                    rows.setdefault("flat_policy", []).append(run_flat(env, spec, flat, s))
        task_res = {}
        for cond, rs in rows.items():
            k = sum(r["success"] for r in rs)
            entry = {"success_rate": k / len(rs), "successes": k, "episodes": len(rs),
                     "success_ci95": wilson(k, len(rs)), "mean_env_steps": float(np.mean([r["env_steps"] for r in rs]))}
            if cond.startswith("planner"):
                pt = [t for r in rs for t in r["planning_time_s"]]
                entry.update({
                    "mean_replans": float(np.mean([r["replans"] for r in rs])),
                    "mean_failures_detected": float(np.mean([r["failures"] for r in rs])),
                    "planning_time_ms_median": 1000 * float(np.median(pt)) if pt else None,
                    "planning_time_ms_p95": 1000 * float(np.percentile(pt, 95)) if pt else None,
                    "failure_reasons": sorted({r["reason"] for r in rs if not r["success"]}),
                })
            if cond == "planner_models":
                dev = [x for r in rs for x in r["deviation_m"]]
                entry.update({"mean_vetoes": float(np.mean([r["vetoes"] for r in rs])),
                              "deviation_m_median": float(np.median(dev)) if dev else None, "model_fit": model_fit})
            task_res[cond] = entry
        results[spec.name] = task_res
        print(spec.name, {c: f"{v['success_rate']:.2f}" for c, v in task_res.items()}, flush=True)
    overall = {}
    for cond in ("planner", "planner_drop", "scripted_plan", "scripted_plan_drop", "planner_models", "planner_learned",
                 "flat_policy"):
        k = sum(results[t][cond]["successes"] for t in results if cond in results[t])
        n = sum(results[t][cond]["episodes"] for t in results if cond in results[t])
        if n == 0:
            continue
        overall[cond] = {"success_rate": k / n, "successes": k, "episodes": n, "success_ci95": wilson(k, n)}
    out = {
        "benchmark": "planning_eval",
        "what": "success over seeds of the long-horizon task files: planner over scripted primitives and the "
                "fixed scripted plan, each also with a dropped object injected in its first pick_place",
        "seeds_per_task": len(seeds), "seed_offset": 10_000, "beam_width": args.beam_width,
        "tasks": results, "overall": overall,
        "flat_policy": {"source": str(args.flat_policy or args.flat_skill), "kind": flat.kind,
                        "not_run": flat_notes} if flat is not None else None,
        "learned_skills": {"library": str(args.learned_skills), "per_task": learned_notes}
        if args.learned_skills is not None else None,
        "unavailable": {
            **({} if args.learned_skills is not None else {
                "planner_over_learned_skills": "not given: pass --learned-skills <library of SLIM/... skills>"}),
            **({} if flat is not None else {
                "flat_goal_conditioned_policy": "not given: pass --flat-policy (a Play-LMP/GCBC policy.pt)"}),
        },
        "wall_s": time.perf_counter() - t0,
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "debug": args.debug},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(out, indent=2))
    print(json.dumps(overall, indent=2))
    return out


if __name__ == "__main__":
    main()
