"""Lifelong benchmark: the five algorithms on one suite at a CPU budget, plus parallel-evaluation speed-up.

::

    # the reduced protocol of docs/lifelong.md ("Results"): ~20-60 min per suite on the shared 2-core machine
    nice -n 10 python benchmarks/lifelong_suite.py --suite tabletop-object --seeds 3 --n-tasks 3 --epochs 30 \
        --eval-every 10 --rollouts 20 --max-steps 150 --post-prune-epochs 10 --speedup-rounds 2
    python benchmarks/lifelong_suite.py --suite tabletop-micro --quick                    # ~1 min smoke
    python benchmarks/lifelong_suite.py --debug --out /tmp/lifelong.json     # seconds: 2 tasks, 2 demos, 1 epoch
    python benchmarks/lifelong_table.py        # all suites' results files -> lifelong_all.{json,md}

Writes ``benchmarks/results/lifelong_<suite>.json`` (atomically): the budget, every run's per-seed metrics,
the FWT/NBT/AUC table (mean ± s.e. over seeds), wall-clock per algorithm, LIBERO's expected ordering checked
against what was measured (each comparison reported as measured, true or false), and the evaluation
speed-up of ``workers`` processes against one, timed side by side in alternating rounds on the same policy.
The demonstrations are generated once (scripted) and shared by every run. ``--speedup-rounds 0`` skips
the speed-up check (its timing is meaningless while other benchmark processes share the cores).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ALGOS = ("seql", "er", "ewc", "packnet", "multitask")
# LIBERO (Liu et al. 2023, Table 2, ResNet-T) as an ordering; the numbers are theirs, for reference only.
LIBERO_EXPECTED = [
    ("NBT(seql) > NBT(er)", "nbt", "seql", ">", "er"),
    ("NBT(seql) > NBT(packnet)", "nbt", "seql", ">", "packnet"),
    ("AUC(er) > AUC(seql)", "auc", "er", ">", "seql"),
    ("AUC(packnet) > AUC(seql)", "auc", "packnet", ">", "seql"),
    ("AUC(seql) > AUC(ewc)", "auc", "seql", ">", "ewc"),
    ("FWT(seql) >= FWT(er)", "fwt", "seql", ">=", "er"),
    ("FWT(seql) >= FWT(ewc)", "fwt", "seql", ">=", "ewc"),
    ("FWT(seql) >= FWT(packnet)", "fwt", "seql", ">=", "packnet"),
]


def check_libero_ordering(runs: dict) -> list[dict]:
    """Each of LIBERO's expected orderings (and multitask >= every algorithm) as measured: both values and
    whether it holds (``None`` where a value is undefined). ``runs``: algo -> {"aggregate": ...}."""
    ordering = []
    for label, metric, a, op, b in LIBERO_EXPECTED:
        if a in runs and b in runs:
            va, vb = runs[a]["aggregate"][metric]["mean"], runs[b]["aggregate"][metric]["mean"]
            holds = None if va is None or vb is None else (va > vb if op == ">" else va >= vb)
            ordering.append({"expected": label, "measured": [va, vb], "holds": holds})
    if "multitask" in runs:
        mt = runs["multitask"]["aggregate"]["final_success"]["mean"]
        for algo in runs:
            if algo != "multitask":
                other = runs[algo]["aggregate"]["final_success"]["mean"]
                ordering.append({"expected": f"final success(multitask) >= final success({algo})",
                                 "measured": [mt, other], "holds": mt >= other})
    return ordering


def _budget(args: argparse.Namespace) -> dict:
    if args.debug:
        return dict(n_tasks=2, n_demos=2, epochs=1, eval_every=1, eval_rollouts=1, max_steps=20, seeds=1,
                    post_prune_epochs=1)
    if args.quick:
        return dict(n_tasks=2, n_demos=10, epochs=10, eval_every=5, eval_rollouts=4, max_steps=120, seeds=1,
                    post_prune_epochs=5)
    return dict(n_tasks=args.n_tasks, n_demos=args.n_demos, epochs=args.epochs, eval_every=args.eval_every,
                eval_rollouts=args.rollouts, max_steps=args.max_steps, seeds=args.seeds,
                post_prune_epochs=args.post_prune_epochs)


def _eval_speedup(suite_name: str, demos_dir: str, budget: dict, workers: int, rounds: int) -> dict:
    """Evaluate all tasks of the suite with a freshly initialised policy: 1 worker vs ``workers`` processes."""
    import torch

    from skill_rl.lifelong.algos import make_algo
    from skill_rl.lifelong.demos import suite_schema
    from skill_rl.lifelong.evaluation import Evaluator
    from skill_rl.lifelong.policies import PolicyConfig, TaskPolicy, text_features
    from skill_rl.lifelong.suites import get_suite

    suite = get_suite(suite_name).subset(budget["n_tasks"])
    schema = suite_schema(suite, demos_dir)
    torch.manual_seed(0)
    env0 = suite.tasks[0].factory.make()
    act_dim = env0.action_space.shape[0]
    env0.close()
    algo = make_algo("seql", TaskPolicy(PolicyConfig(obs_dim=schema.dim, act_dim=act_dim)))
    jobs = [(k, t.factory, text_features(t.language)) for k, t in enumerate(suite.tasks)]
    serial = Evaluator(schema, budget["eval_rollouts"], budget["max_steps"], workers=1)
    parallel = Evaluator(schema, budget["eval_rollouts"], budget["max_steps"], workers=workers)
    parallel.evaluate(algo, jobs)  # start the worker processes outside the timing
    times: dict[str, list[float]] = {"serial": [], "parallel": []}
    results = {}
    for r in range(rounds):
        order = [("serial", serial), ("parallel", parallel)][:: 1 if r % 2 == 0 else -1]
        for name, ev in order:
            t0 = time.perf_counter()
            results[name] = ev.evaluate(algo, jobs)
            times[name].append(time.perf_counter() - t0)
    serial.close()
    parallel.close()
    ratios = [s / p for s, p in zip(times["serial"], times["parallel"], strict=True)]
    return {"workers": workers, "tasks": len(jobs), "rollouts_per_task": budget["eval_rollouts"],
            "max_steps": budget["max_steps"], "serial_s": times["serial"], "parallel_s": times["parallel"],
            "speedup_median": float(np.median(ratios)), "speedup_rounds": ratios,
            "same_results": results["serial"] == results["parallel"], "cpu_count": os.cpu_count()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", default="tabletop-object")
    p.add_argument("--algos", default=",".join(ALGOS))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--n-tasks", type=int, default=0)
    p.add_argument("--n-demos", type=int, default=50)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--eval-every", type=int, default=5)
    p.add_argument("--rollouts", type=int, default=10)
    p.add_argument("--max-steps", type=int, default=200)
    p.add_argument("--post-prune-epochs", type=int, default=10)
    p.add_argument("--workers", type=int, default=2, help="parallel evaluation workers for the speed-up check")
    p.add_argument("--speedup-rounds", type=int, default=3, help="0 = skip the speed-up check")
    p.add_argument("--quick", action="store_true", help="tiny budget (smoke test)")
    p.add_argument("--debug", action="store_true",
                   help="smoke run in seconds: 2 tasks, 2 demos, 1 epoch, 1 rollout of 20 steps, no speed-up check; "
                        "demos and run folders in a temporary folder")
    p.add_argument("--out", default="")
    args = p.parse_args()

    import torch

    from skill_rl.fileio import atomic_write_text
    from skill_rl.lifelong.demos import generate_demos
    from skill_rl.lifelong.protocol import LifelongConfig, results_table, run_lifelong
    from skill_rl.lifelong.suites import get_suite

    torch.set_num_threads(1)
    budget = _budget(args)
    tmp = tempfile.TemporaryDirectory() if args.debug else None
    root = Path(tmp.name if tmp else "runs") / "bench-lifelong"
    demos_dir = str(Path(tmp.name if tmp else "runs") / "lifelong-demos" / args.suite)
    if args.debug:
        args.speedup_rounds = 0
    suite = get_suite(args.suite).subset(budget["n_tasks"])
    t0 = time.perf_counter()
    demo_stats = generate_demos(suite, demos_dir, budget["n_demos"], progress=True)
    demo_s = time.perf_counter() - t0
    rows, runs = [], {}
    for algo in args.algos.split(","):
        cfg = LifelongConfig(suite=args.suite, algo=algo, demos_dir=demos_dir, run_root=str(root), threads=1,
                             progress=True, **budget)
        t1 = time.perf_counter()
        s = run_lifelong(cfg)
        wall = time.perf_counter() - t1
        res = json.loads((Path(s["run_dir"]) / "results.json").read_text())
        runs[algo] = {"run_dir": s["run_dir"], "wall_s": round(wall, 1), "train_s": s["train_s"],
                      "eval_s": s["eval_s"], "aggregate": s["aggregate"], "seeds": res["seeds"]}
        rows.append({"suite": args.suite, "algo": algo, "n_seeds": budget["seeds"], "aggregate": s["aggregate"]})
        print(results_table(rows[-1:]), flush=True)
    ordering = check_libero_ordering(runs)
    speedup = (_eval_speedup(args.suite, demos_dir, budget, args.workers, args.speedup_rounds)
               if args.speedup_rounds > 0 else None)
    out = {
        "suite": args.suite, "debug": args.debug, "tasks": [t.name for t in suite.tasks], "budget": budget,
        "demos": {"seconds": round(demo_s, 1), "per_task": demo_stats},
        "table_markdown": results_table(rows), "runs": runs, "libero_ordering": ordering,
        "eval_speedup": speedup, "total_wall_s": round(time.perf_counter() - t0, 1),
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": 1, "python": sys.version.split()[0],
                    "torch": torch.__version__},
        "note": "single run on a shared 2-core machine; wall-clock figures include other users' load",
    }
    path = Path(args.out or Path(__file__).parent / "results" / f"lifelong_{args.suite}.json")
    atomic_write_text(path, json.dumps(out, indent=2) + "\n")
    print(out["table_markdown"])
    for o in ordering:
        print(f"{o['expected']}: {o['holds']}  ({o['measured']})")
    if speedup is not None:
        print(f"evaluation speed-up with {args.workers} workers: {speedup['speedup_median']:.2f}x")
    print(f"wrote {path}")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
