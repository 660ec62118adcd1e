#!/usr/bin/env python
"""Success of BC primitives trained from scripted demos (``skill_rl.imitation.bc_primitive``), over seeds.

    nice -n 15 python benchmarks/bc_primitives.py                  # 3 seeds x 50 held-out episodes per case
    nice -n 15 python benchmarks/bc_primitives.py --cases push/default --keep   # one case, the others kept
    python benchmarks/bc_primitives.py --debug --out /tmp/bc.json  # 1 seed, the debug budget (seconds)

Each case is one ``train_bc_primitive(world, primitive, params, demos=..., steps=..., seed=s)`` per seed: fresh
scripted demos (reset seeds ``1e8 + 1e4 s + i``), the core's BC recipe, the exported TorchScript evaluated through
the library loader on ``--episodes`` held-out reset seeds (``2e8 + 1e4 s + r``), success = the catalog's check of
the call after every step, within the scripted primitive's horizon. ``random`` is the same check for uniformly
random actions on seed 0's held-out episodes. Wall-clock is per training run (demos + training + evaluation) on
whatever machine ran it (``machine``; the shared 2-core box is loaded by other jobs, so read it as a scale).
Writes ``benchmarks/results/bc_primitives.json`` and ``.md`` (atomically).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

os.environ.setdefault("MUJOCO_GL", "osmesa")

RESULTS = Path(__file__).resolve().parent / "results" / "bc_primitives.json"
PLACE = {"obj": "cube", "target": "region"}
# label -> (world, primitive, params, demos, steps): "default" is the CLI's budget; "ci" a sub-minute budget for a
# whole-path test in the ROS simulation's world (TabletopPickPlace-v0); "small" the brief's small budgets
CASES: dict[str, tuple[str, str, dict[str, Any], int, int]] = {
    "pick_place/default": ("TabletopPickPlace-v0", "pick_place", PLACE, 100, 18000),
    "lift/ci": ("TabletopPickPlace-v0", "lift", {"obj": "cube"}, 50, 4000),
    "pick_place/6k": ("TabletopPickPlace-v0", "pick_place", PLACE, 100, 6000),
    "pick_place/small": ("TabletopPickPlace-v0", "pick_place", PLACE, 30, 3000),
    "lift/small": ("TabletopPickPlace-v0", "lift", {"obj": "cube"}, 30, 2000),
    "lift_liftworld/small": ("TabletopLift-v0", "lift", {"obj": "cube"}, 30, 2000),
    "push/default": ("TabletopPush-v0", "push", {"obj": "cube", "target_xy": "region"}, 200, 18000),  # its recipe's
    "open_drawer/default": ("TabletopDrawer-v0", "open_drawer", {"drawer": "cabinet"}, 100, 18000),
    "close_drawer/default": ("TabletopDrawer-v0", "close_drawer", {"drawer": "cabinet"}, 100, 18000),
}


def random_success(world: str, primitive: str, params: dict[str, Any], seeds: list[int], horizon: int) -> float:
    """Success rate of uniformly random actions under the same check and horizon."""
    import numpy as np

    from skill_rl.imitation.bc_primitive import make_world, run_prelude
    from skill_rl.library import primitive as spec_of

    env = make_world(world)
    spec, rng, wins = spec_of(primitive), np.random.default_rng(0), 0
    for s in seeds:
        obs, _ = env.reset(seed=s)
        obs = run_prelude(env, obs, primitive, params)  # the same start as the policy's (close_drawer: opened)
        for _ in range(horizon):
            obs, *_ = env.step(rng.uniform(-1, 1, env.action_space.shape[0]).astype(np.float32))
            if spec.succeeded(env, obs, params):
                wins += 1
                break
    env.close()
    return wins / len(seeds)


def run_case(label: str, seeds: int, episodes: int, debug: bool) -> dict[str, Any]:
    from skill_rl.imitation.bc_primitive import DEBUG_BUDGET, EVAL_SEED_BASE, train_bc_primitive

    world, prim, params, demos, steps = CASES[label]
    if debug:
        demos, steps, episodes = DEBUG_BUDGET["demos"], DEBUG_BUDGET["steps"], DEBUG_BUDGET["eval_episodes"]
    per_seed = []
    for seed in range(seeds):
        with tempfile.TemporaryDirectory(prefix="bc-bench-") as tmp:
            res = train_bc_primitive(world, prim, params, demos=demos, steps=steps, seed=seed, library=None, name=None,
                                     out_dir=tmp, eval_episodes=episodes, progress=False)
        s = res.summary
        per_seed.append({"seed": seed, "success_rate": res.success_rate, "wall_s": s["wall_s"],
                         "demo_attempts": s["demos"]["attempts"], "mean_demo_length": s["demos"]["mean_length"],
                         "final_nll": s["train"]["final"].get("nll"), "horizon": s["horizon"]})
        print(f"{label} seed {seed}: {res.success_rate:.0%} ({s['wall_s']['total']:.0f} s)", flush=True)
    rates = [r["success_rate"] for r in per_seed]
    walls = [r["wall_s"]["total"] for r in per_seed]
    rand = random_success(world, prim, params, [EVAL_SEED_BASE + r for r in range(episodes)], per_seed[0]["horizon"])
    return {"world": world, "primitive": prim, "params": params, "demos": demos, "steps": steps,
            "episodes_per_seed": episodes, "per_seed": per_seed, "success_mean": statistics.fmean(rates),
            "success_std": statistics.stdev(rates) if len(rates) > 1 else 0.0, "success_min": min(rates),
            "random_success": rand, "head": s["train"]["policy"]["head"], "action_noise": s["action_noise"],
            "wall_s_mean": statistics.fmean(walls), "wall_s_max": max(walls),
            "train_s_mean": statistics.fmean(r["wall_s"]["train"] for r in per_seed)}


def git_state() -> dict[str, Any]:
    """The commit the demonstrators and the recipe came from, and uncommitted changes under the code that makes
    the demos (experts, primitives, catalog, imitation core): results move when those do."""
    import subprocess

    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30).stdout.rstrip()
        except (OSError, subprocess.SubprocessError):
            return ""

    dirty = git("status", "--porcelain", "--", "envs", "skill_rl/library", "skill_rl/imitation")
    return {"commit": git("rev-parse", "HEAD").strip(), "dirty": [line[3:] for line in dirty.splitlines()]}


def markdown(payload: dict[str, Any]) -> str:
    lines = ["# BC primitives from scripted demos", "",
             f"`benchmarks/bc_primitives.py`, {payload['created']}; {payload['seeds']} seeds x "
             f"{payload['episodes']} held-out episodes per case; success = the catalog's check of the call, every "
             f"step; wall-clock per training run (demos + training + evaluation) on {payload['machine']['cpus']} "
             f"shared CPUs, loaded by other jobs; code at {payload['git']['commit'][:7] or '?'}"
             f"{' with uncommitted ' + ', '.join(payload['git']['dirty']) if payload['git']['dirty'] else ''}.", "",
             "| case | world | call | demos | steps | success per seed | mean ± std | random | wall-clock per run (mean / max) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for label, c in payload["cases"].items():
        call = f"{c['primitive']}({', '.join(f'{k}={v}' for k, v in c['params'].items())})"
        seeds = " / ".join(f"{r['success_rate']:.0%}" for r in c["per_seed"])
        lines.append(f"| {label} | {c['world']} | {call} | {c['demos']} | {c['steps']} | {seeds} | "
                     f"{c['success_mean']:.0%} ± {c['success_std']:.0%} | {c['random_success']:.0%} | "
                     f"{c['wall_s_mean']:.0f} s / {c['wall_s_max']:.0f} s |")
    from skill_rl.imitation.bc_primitive import CORE_RECIPE

    core = (CORE_RECIPE["head"], CORE_RECIPE["action_noise"])
    own = [f"{label}: {c['head']} head, DART noise {c['action_noise']}" for label, c in payload["cases"].items()
           if (c.get("head", core[0]), c.get("action_noise", core[1])) != core]
    if own:  # skill_rl.imitation.bc_primitive.PRIMITIVE_RECIPES
        lines += ["", f"Recipes other than the core's ({core[0]} head, DART noise {core[1]}): " + "; ".join(own) + "."]
    earlier = [f"{label} ({c['measured']['created']}, code at {c['measured']['git']['commit'][:7] or '?'})"
               for label, c in payload["cases"].items() if "measured" in c]
    if earlier:
        lines += ["", "Measured by an earlier run (kept with `--keep`): " + "; ".join(earlier) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--episodes", type=int, default=50, help="held-out evaluation episodes per seed")
    p.add_argument("--debug", action="store_true", help="1 seed, the first two cases, the debug budget")
    p.add_argument("--out", type=Path, default=RESULTS, help="the .json (the .md goes next to it)")
    p.add_argument("--keep", action="store_true",
                   help="keep the cases already in --out that this run does not measure (else they are dropped)")
    args = p.parse_args(argv)
    if args.debug:
        args.seeds, args.cases = 1, args.cases[:2]

    import torch

    from skill_rl.fileio import atomic_write_json, atomic_write_text

    t0 = time.perf_counter()
    git = git_state()  # at the start: the code the run imports
    cases = {label: run_case(label, args.seeds, args.episodes, args.debug) for label in args.cases}
    if args.keep and args.out.is_file():  # earlier cases keep their own git/created stamps
        import json

        old = json.loads(args.out.read_text())
        kept = {k: {**v, "measured": v.get("measured", {"created": old["created"], "git": old["git"]})}
                for k, v in old["cases"].items() if k not in cases}
        cases = {**kept, **cases}
    payload = {"benchmark": "bc_primitives", "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "debug": args.debug, "seeds": args.seeds, "episodes": args.episodes if not args.debug else 3,
               "command": " ".join(["python", "benchmarks/bc_primitives.py", *(argv if argv is not None else sys.argv[1:])]),
               "git": git, "cases": cases,
               "machine": {"python": platform.python_version(), "torch": torch.__version__,
                           "platform": platform.platform(), "cpus": os.cpu_count(), "torch_threads": 1,
                           "loadavg_at_end": [round(x, 2) for x in os.getloadavg()]},
               "wall_s": round(time.perf_counter() - t0, 1)}
    atomic_write_json(args.out, payload)
    atomic_write_text(args.out.with_suffix(".md"), markdown(payload))
    print(markdown(payload))
    print(f"wrote {args.out} and {args.out.with_suffix('.md')} in {payload['wall_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
