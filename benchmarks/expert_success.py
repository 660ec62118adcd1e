#!/usr/bin/env python
"""Success of the scripted experts over seeds: every tabletop task in MuJoCo, and the pybullet twins.

    nice -n 10 python benchmarks/expert_success.py                        # 100 seeds per task, 50 per twin
    python benchmarks/expert_success.py --debug --out /tmp/expert.json    # 2 seeds each (smoke, seconds)

``make_expert(env).act(obs)`` runs each episode to its end (termination or the env's time limit); success is
``info["is_success"]`` at the episode's end, as ``tests/test_tabletop.py`` and ``tests/test_pybullet_twin.py``
read it. Seeds 0..N-1. The pybullet twins (``PybulletPush-v0``, ``PybulletPickPlace-v0``) share the MuJoCo
tasks' observation layout and initial placement per seed, so the same expert runs unchanged in both (the
sim-to-sim check); their MuJoCo counterparts are listed on the same seeds. ``--no-pybullet`` skips the twins
(the ``sim`` extra is missing). Writes ``benchmarks/results/expert_success.json`` (atomically): per env the
successes, the failed seeds, mean episode steps and wall-clock.
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

RESULTS = Path(__file__).resolve().parent / "results" / "expert_success.json"
TWINS = {"PybulletPush-v0": "TabletopPush-v0", "PybulletPickPlace-v0": "TabletopPickPlace-v0"}


def run_expert(env_id: str, seeds: range) -> dict[str, Any]:
    """Run the scripted expert once per seed; successes, failed seeds, mean steps, wall-clock."""
    import skill_rl.envs as E
    from skill_rl.envs.tabletop.experts import make_expert

    env = E.make(env_id)
    expert = make_expert(env)
    success, steps = [], []
    t0 = time.perf_counter()
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        expert.reset()
        n, done, info = 0, False, {}
        while not done:
            obs, _, terminated, truncated, info = env.step(expert.act(obs))
            done = terminated or truncated
            n += 1
        success.append(bool(info["is_success"]))
        steps.append(n)
    env.close()
    return {"seeds": [seeds.start, seeds.stop - 1], "episodes": len(success), "successes": sum(success),
            "failed_seeds": [s for s, ok in zip(seeds, success, strict=True) if not ok],
            "mean_steps": round(sum(steps) / len(steps), 1), "wall_s": round(time.perf_counter() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=100, help="seeds per MuJoCo tabletop task")
    p.add_argument("--twin-seeds", type=int, default=50, help="seeds per pybullet twin (and its MuJoCo task)")
    p.add_argument("--no-pybullet", action="store_true", help="skip the pybullet twins")
    p.add_argument("--debug", action="store_true", help="2 seeds each")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.debug:
        args.seeds = args.twin_seeds = 2

    import mujoco

    from skill_rl.envs.tabletop import TASKS
    from skill_rl.fileio import atomic_write_json

    t0 = time.perf_counter()
    tabletop = {}
    for name in TASKS:
        tabletop[f"{name}-v0"] = r = run_expert(f"{name}-v0", range(args.seeds))
        print(f"{name}-v0: {r['successes']}/{r['episodes']} ({r['wall_s']} s)", flush=True)
    twins = {}
    if not args.no_pybullet:
        for pb_id, mj_id in TWINS.items():
            twins[pb_id] = {"pybullet": run_expert(pb_id, range(args.twin_seeds)),
                            "mujoco": run_expert(mj_id, range(args.twin_seeds)), "mujoco_id": mj_id}
            print(f"{pb_id}: pybullet {twins[pb_id]['pybullet']['successes']}/{args.twin_seeds}, "
                  f"{mj_id} {twins[pb_id]['mujoco']['successes']}/{args.twin_seeds}", flush=True)
    machine: dict[str, Any] = {"python": platform.python_version(), "mujoco": mujoco.__version__,
                               "platform": platform.platform(), "cpus": os.cpu_count()}
    if twins:
        import pybullet

        machine["pybullet_api"] = pybullet.getAPIVersion()
    payload = {"benchmark": "expert_success", "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "debug": args.debug, "what": "scripted expert, success at the episode's end, seeds 0..N-1",
               "tabletop": tabletop, "pybullet_twins": twins, "machine": machine,
               "wall_s": round(time.perf_counter() - t0, 1)}
    atomic_write_json(args.out, payload)
    print(f"wrote {args.out} in {payload['wall_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
