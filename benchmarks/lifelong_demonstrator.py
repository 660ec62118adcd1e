#!/usr/bin/env python
"""Success of the scripted demonstrator on every task of the four generated lifelong suites.

    nice -n 10 python benchmarks/lifelong_demonstrator.py                          # 6 seeds, noise 0 and 0.1
    python benchmarks/lifelong_demonstrator.py --debug --out /tmp/demonstrator.json   # 1 suite, 2 tasks, 1 seed

Per suite, task and DART noise level (``--noise``: 0 = the clean demonstrator, 0.1 = ``demo_noise``'s
default, the noise ``skill-rl lifelong demos`` records with), the task's ``ScriptedDemonstrator`` runs from the
demo seeds (1,000,000 + i, the seeds ``generate_demos`` tries first) with ``record_demo`` itself: an attempt
succeeds when the task's goal holds within ``--max-steps`` (600, ``generate_demos``' default). Reported: the
successes per task, the failed seeds, the mean length of the successful demos (trimmed 5 steps after the goal,
as kept), their env steps per second (demonstrator included) and wall-clock. Suites are the installed task files
(``get_suite``), or any registered suite: the official LIBERO-Object one with its scripted expert (extra
``libero``; seed s restores official init state s % 50, so the demo seeds are init states 0, 1, ...):

    nice -n 15 python benchmarks/lifelong_demonstrator.py --suites libero_object --seeds 10 --noise 0 \
        --max-steps 350 --out benchmarks/results/lifelong_demonstrator_libero_object.json

Writes ``benchmarks/results/lifelong_demonstrator.json`` (atomically).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

os.environ.setdefault("MUJOCO_GL", "osmesa")

RESULTS = Path(__file__).resolve().parent / "results" / "lifelong_demonstrator.json"
SUITES = ("tabletop-spatial", "tabletop-object", "tabletop-goal", "tabletop-long")


def task_success(task: Any, seeds: list[int], noise: float, max_steps: int) -> dict[str, Any]:
    """``record_demo`` on each seed: successes, failed seeds, mean kept length, wall-clock, and the env steps
    per second of the successful attempts (their kept steps over their wall-clock)."""
    from skill_rl.lifelong.demos import record_demo

    env = task.factory.make(max_episode_steps=max_steps)
    demonstrator = task.factory.demonstrator(env)
    t0 = time.perf_counter()
    lengths, failed, success_s = [], [], 0.0
    for seed in seeds:
        t1 = time.perf_counter()
        ep = record_demo(env, demonstrator, seed, max_steps, action_noise=noise)
        if ep is None:
            failed.append(seed)
        else:
            lengths.append(len(ep["actions"]))
            success_s += time.perf_counter() - t1
    env.close()
    return {"attempts": len(seeds), "successes": len(lengths), "failed_seeds": failed,
            "mean_length": round(sum(lengths) / len(lengths), 1) if lengths else None,
            "steps_per_s": round(sum(lengths) / success_s, 1) if lengths else None,
            "wall_s": round(time.perf_counter() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--suites", nargs="+", default=list(SUITES))
    p.add_argument("--seeds", type=int, default=6, help="attempts per task and noise level")
    p.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.1], help="DART action-noise std levels")
    p.add_argument("--max-steps", type=int, default=600)
    p.add_argument("--debug", action="store_true", help="first suite, 2 tasks, 1 seed, no noise")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)

    from skill_rl.fileio import atomic_write_json
    from skill_rl.lifelong.demos import DEMO_SEED_BASE
    from skill_rl.lifelong.suites import get_suite

    if args.debug:
        args.suites, args.seeds, args.noise = args.suites[:1], 1, [0.0]
    seeds = [DEMO_SEED_BASE + i for i in range(args.seeds)]
    t0 = time.perf_counter()
    suites: dict[str, Any] = {}
    for name in args.suites:
        suite = get_suite(name)
        tasks = suite.tasks[:2] if args.debug else suite.tasks
        per_noise = {}
        for noise in args.noise:
            per_task = {t.name: task_success(t, seeds, noise, args.max_steps) for t in tasks}
            per_noise[f"{noise:g}"] = {"successes": sum(r["successes"] for r in per_task.values()),
                                      "attempts": sum(r["attempts"] for r in per_task.values()), "tasks": per_task}
            print(f"{name} noise {noise:g}: {per_noise[f'{noise:g}']['successes']}/{per_noise[f'{noise:g}']['attempts']}",
                  flush=True)
        suites[name] = {"n_tasks": len(tasks), "noise": per_noise}
    payload = {"benchmark": "lifelong_demonstrator", "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "debug": args.debug, "seeds": [seeds[0], seeds[-1]], "max_steps": args.max_steps,
               "suites": suites, "machine": {"python": platform.python_version(), "platform": platform.platform(),
                                             "cpus": os.cpu_count()},
               "wall_s": round(time.perf_counter() - t0, 1)}
    atomic_write_json(args.out, payload)
    print(f"wrote {args.out} in {payload['wall_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
