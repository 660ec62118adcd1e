"""Planning time per decision, and total task success against the planning budget (a curve).

Budget = ``max_expansions``: successor states the beam search may evaluate per decision (the search is
anytime: with the budget spent it returns its best partial plan, the executor runs its first step and plans
again). Two heuristics run side by side at every budget: ``h_add`` (delete relaxation, the default) and
``goal_count`` (number of unsatisfied goal atoms), so the curve also shows what the heuristic buys.

Planning time is measured twice: inside the executed episodes (every search the executor ran), and in a
search-only loop from each task's start state, with the two heuristics interleaved round by round so load
from other processes hits both alike; the ratio ``h_add / goal_count`` is the median of per-round ratios.

Writes ``benchmarks/results/planning_budget.json`` and ``planning_budget.png``.

    python benchmarks/planning_budget.py           # 10 seeds x 5 tasks x 9 budgets x 2 heuristics (~10 min)
    python benchmarks/planning_budget.py --debug   # seconds
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
HEURISTICS = ("h_add", "goal_count")


def search_timing(specs, rounds: int, repeats: int) -> dict:
    """Median search-only time per decision (ms) from each task's start state, heuristics interleaved."""
    from skill_rl.envs import make_task_env
    from skill_rl.planning.search import SearchConfig, plan_search
    from skill_rl.planning.symbolic import abstract_state, declared_operators, normalise_goal

    problems = []
    for spec in specs:
        env = make_task_env(spec)
        env.reset(seed=0)
        kinds = {o.name: o.kind for o in spec.objects}
        problems.append((spec.name, abstract_state(env), normalise_goal(spec.goal, kinds),
                         [o for o in declared_operators(kinds) if o.primitive != "lift"]))
        env.close()
    per: dict[str, dict[str, list[float]]] = {h: {p[0]: [] for p in problems} for h in HEURISTICS}
    ratios = []
    for r in range(rounds):
        totals = {}
        for h in (HEURISTICS if r % 2 == 0 else HEURISTICS[::-1]):
            cfg = SearchConfig(heuristic=h)
            total = 0.0
            for name, state, goal, ops in problems:
                t0 = time.perf_counter()
                for _ in range(repeats):
                    plan_search(state, goal, ops, cfg)
                dt = (time.perf_counter() - t0) / repeats
                per[h][name].append(1000 * dt)
                total += dt
            totals[h] = total
        ratios.append(totals["h_add"] / totals["goal_count"])
    return {
        "ms_per_search_median": {h: {n: float(np.median(v)) for n, v in d.items()} for h, d in per.items()},
        "ratio_h_add_over_goal_count": float(np.median(ratios)),
        "ratio_rounds": ratios,
        "rounds": rounds, "repeats": repeats,
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budgets", type=int, nargs="*", default=[1, 2, 4, 8, 16, 32, 64, 256, 1024])
    ap.add_argument("--beam-width", type=int, default=4)
    ap.add_argument("--debug", action="store_true")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "planning_budget.json")
    args = ap.parse_args(argv)

    from skill_rl.envs import make_task_env
    from skill_rl.library import SkillLibrary, add_scripted_primitives
    from skill_rl.planning.execute import SkillSet, run_plan
    from skill_rl.planning.search import SearchConfig
    from skill_rl.planning.tasklang import load_task
    from skill_rl.runs import atomic_write_text

    paths = sorted((REPO / "tasks").glob("*.task"))
    seeds = list(range(args.seeds))
    budgets = list(args.budgets)
    if args.debug:
        paths, seeds, budgets = paths[:2], [0, 1], [1, 8, 1024]
    specs = [load_task(p) for p in paths]
    lib = SkillLibrary(tempfile.mkdtemp(prefix="planning_budget_lib_"))
    add_scripted_primitives(lib)
    skills = SkillSet(lib)
    t0 = time.perf_counter()
    curve: dict[str, list[dict]] = {h: [] for h in HEURISTICS}
    envs = {spec.name: make_task_env(spec) for spec in specs}
    for budget in budgets:
        for h in HEURISTICS:
            succ, n, times, steps = 0, 0, [], []
            per_task = {}
            for spec in specs:
                env = envs[spec.name]
                k = 0
                for seed in seeds:
                    obs, _ = env.reset(seed=20_000 + seed)
                    tr = run_plan(env, obs, spec.goal, skills,
                                  search=SearchConfig(beam_width=args.beam_width, max_expansions=budget, heuristic=h,
                                                      seed=seed))
                    k += tr["success"]
                    times += tr["planning_time_s"]
                    steps.append(tr["env_steps"])
                per_task[spec.name] = k / len(seeds)
                succ += k
                n += len(seeds)
            curve[h].append({
                "budget": budget, "success_rate": succ / n, "episodes": n, "per_task": per_task,
                "planning_ms_per_decision_median": 1000 * float(np.median(times)) if times else None,
                "planning_ms_per_decision_p95": 1000 * float(np.percentile(times, 95)) if times else None,
                "decisions_planned": len(times), "mean_env_steps": float(np.mean(steps)),
            })
            print(f"budget {budget:5d} {h:10s} success {succ / n:.2f} "
                  f"plan {curve[h][-1]['planning_ms_per_decision_median']:.2f} ms", flush=True)
    timing = search_timing(specs, rounds=3 if args.debug else 7, repeats=2 if args.debug else 10)
    out = {
        "benchmark": "planning_budget",
        "what": "task success (all task files, executed in sim) vs planning budget (max_expansions per search), "
                "for the h_add and goal_count heuristics; planning time per decision",
        "beam_width": args.beam_width, "seeds_per_task": len(seeds), "seed_offset": 20_000,
        "tasks": [s.name for s in specs], "curve": curve, "search_only_timing": timing,
        "wall_s": time.perf_counter() - t0,
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "debug": args.debug},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(out, indent=2))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
        for h in HEURISTICS:
            xs = [c["budget"] for c in curve[h]]
            a.plot(xs, [c["success_rate"] for c in curve[h]], marker="o", label=h)
            b.plot(xs, [c["planning_ms_per_decision_median"] for c in curve[h]], marker="o", label=h)
        for ax in (a, b):
            ax.set_xscale("log", base=2)
            ax.set_xlabel("planning budget (states expanded per decision)")
            ax.grid(alpha=0.3)
            ax.legend()
        a.set_ylabel("task success rate")
        a.set_ylim(-0.02, 1.02)
        b.set_ylabel("planning time per decision, median (ms)")
        fig.suptitle(f"planner over scripted primitives: {len(specs)} tasks x {len(seeds)} seeds, beam {args.beam_width}")
        fig.tight_layout()
        fig.savefig(args.out.with_suffix(".png"), dpi=100)
    except ImportError as exc:  # matplotlib is optional for the numbers
        print(f"no plot: {exc}")
    return out


if __name__ == "__main__":
    main()
