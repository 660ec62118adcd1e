"""Single-task behaviour-cloning diagnosis: train one task of a suite, evaluate closed loop, in minutes.

::

    nice -n 10 python benchmarks/lifelong_single_task.py --suite tabletop-object --task 0 --epochs 50 \
        --rollouts 20 [key=value ...]      # any LifelongConfig field: head=gaussian lr=3e-4 hidden=512 ...
    python benchmarks/lifelong_single_task.py --debug --out /tmp/single.jsonl   # seconds: 2 demos, 1 epoch

Trains a fresh policy with sequential finetuning (``seql``, i.e. plain BC) on task ``--task``'s demos with the
protocol's own pieces (``load_task_data``, ``TaskPolicy``, the algorithm's optimiser and schedule, the
``Evaluator``), evaluating every ``--eval-every`` epochs; prints one JSON line per evaluation and a summary
(best success, training/evaluation seconds). Several ``--seeds`` average over training seeds. The summary is
appended as a JSON line to ``--out`` (default ``benchmarks/results/lifelong_single_task.jsonl``, the file
``docs/lifelong.md`` quotes), so sweeps are collected; ``--out ''`` writes nothing. The demos come from
``--demos-dir`` (default ``runs/lifelong-demos/<suite>``, as ``skill-rl lifelong demos`` writes them);
``--debug`` makes 2 demos per task in a temporary folder instead.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np


def _parse_overrides(items: list[str]) -> dict:
    import yaml

    out = {}
    for item in items:
        key, _, value = item.partition("=")
        v = yaml.safe_load(value)
        if isinstance(v, str):  # YAML 1.1 reads "3e-4" as a string
            try:
                v = float(v)
            except ValueError:
                pass
        out[key] = v
    return out


def run_one(suite_name: str, task: int, seed: int, epochs: int, eval_every: int, overrides: dict,
            rollouts: int, max_steps: int, demos_dir: str, norm_task: int = -1) -> dict:
    import torch

    from skill_rl.lifelong.algos import make_algo
    from skill_rl.lifelong.demos import load_task_data, suite_schema
    from skill_rl.lifelong.evaluation import Evaluator
    from skill_rl.lifelong.policies import TaskPolicy, text_features
    from skill_rl.lifelong.protocol import LifelongConfig, _algo_config, _policy_config
    from skill_rl.lifelong.suites import get_suite

    cfg = LifelongConfig(suite=suite_name, algo="seql", epochs=epochs, eval_every=eval_every,
                         eval_rollouts=rollouts, max_steps=max_steps, **overrides)
    suite = get_suite(suite_name)
    schema = suite_schema(suite.subset(max(task + 1, 1)), demos_dir)
    torch.manual_seed(seed)
    data = load_task_data(suite, demos_dir, task, schema, cfg.history, 128, cfg.n_demos)
    policy = TaskPolicy(_policy_config(cfg, schema.dim, data.actions.shape[1], len(suite)))
    norm = data if norm_task < 0 else load_task_data(suite, demos_dir, norm_task, schema, 1, 128, cfg.n_demos)
    policy.set_normaliser(norm.obs.mean(0), norm.obs.std(0))
    spe = math.ceil(len(data) / cfg.batch_size)
    algo = make_algo("seql", policy, _algo_config(cfg, spe), seed)
    algo.start_task(task, data, cfg.epochs * spe)
    evaluator = Evaluator(schema, rollouts, max_steps)
    job = [(task, suite.tasks[task].factory, text_features(suite.tasks[task].language, 128))]
    curve, train_s, eval_s, losses = [], 0.0, 0.0, []
    for e0 in range(0, cfg.epochs, cfg.eval_every):
        t0 = time.perf_counter()
        for _ in range(cfg.eval_every * spe):
            losses.append(algo.observe(algo.sample(data, cfg.batch_size)))
        train_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        stats = evaluator.evaluate_stats(algo, job)[0]
        eval_s += time.perf_counter() - t0
        curve.append(stats["success"])
        print(json.dumps({"seed": seed, "epoch": e0 + cfg.eval_every, "steps": (e0 + cfg.eval_every) * spe,
                          "loss": round(float(np.mean(losses[-spe:])), 4), "success": stats["success"],
                          "ep_len": stats["steps"]}), flush=True)
    evaluator.close()
    return {"seed": seed, "curve": curve, "best": max(curve), "last": curve[-1], "train_s": round(train_s, 1),
            "eval_s": round(eval_s, 1), "grad_steps": cfg.epochs * spe, "samples": len(data)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", default="tabletop-object")
    p.add_argument("--task", type=int, default=0)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--eval-every", type=int, default=10)
    p.add_argument("--rollouts", type=int, default=20)
    p.add_argument("--max-steps", type=int, default=150)
    p.add_argument("--demos-dir", default="")
    p.add_argument("--norm-task", type=int, default=-1,
                   help="normalise observations with this task's statistics (the protocol uses task 0's)")
    p.add_argument("--tag", default="")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "lifelong_single_task.jsonl"))
    p.add_argument("--debug", action="store_true", help="1 epoch, 1 rollout of 20 steps, 2 fresh demos per task")
    p.add_argument("overrides", nargs="*", help="LifelongConfig fields as key=value")
    args = p.parse_args()

    import torch

    torch.set_num_threads(1)
    overrides = _parse_overrides(args.overrides)
    demos_dir = args.demos_dir or str(Path("runs") / "lifelong-demos" / args.suite)
    tmp = None
    if args.debug:
        import tempfile

        from skill_rl.lifelong.demos import generate_demos
        from skill_rl.lifelong.suites import get_suite

        args.seeds, args.epochs, args.eval_every, args.rollouts, args.max_steps = 1, 1, 1, 1, 20
        tmp = tempfile.TemporaryDirectory()
        demos_dir = tmp.name
        tasks = sorted({args.task, max(args.norm_task, 0)})
        generate_demos(get_suite(args.suite).subset(max(tasks) + 1), demos_dir, 2, progress=False)
    t0 = time.perf_counter()
    runs = [run_one(args.suite, args.task, 100 * (i + 1), args.epochs, args.eval_every, overrides, args.rollouts,
                    args.max_steps, demos_dir, args.norm_task) for i in range(args.seeds)]
    summary = {"tag": args.tag, "suite": args.suite, "task": args.task, "norm_task": args.norm_task,
               "epochs": args.epochs,
               "overrides": overrides, "rollouts": args.rollouts, "max_steps": args.max_steps,
               "best_mean": float(np.mean([r["best"] for r in runs])),
               "last_mean": float(np.mean([r["last"] for r in runs])), "runs": runs,
               "wall_s": round(time.perf_counter() - t0, 1), "debug": args.debug,
               "effective": _effective(args.suite, overrides)}
    print(json.dumps(summary), flush=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "a", encoding="utf-8") as f:  # one line per run: a log, appended, not rewritten
            f.write(json.dumps(summary) + "\n")
    if tmp is not None:
        tmp.cleanup()
    return 0


def _effective(suite: str, overrides: dict) -> dict:
    """The policy and optimiser settings the run used (defaults + overrides), recorded with each line."""
    from skill_rl.lifelong.protocol import LifelongConfig

    cfg = LifelongConfig(suite=suite, algo="seql", **overrides)
    return {k: getattr(cfg, k) for k in ("head", "history", "hidden", "layers", "lr", "batch_size")}


if __name__ == "__main__":
    raise SystemExit(main())
