#!/usr/bin/env python
"""Play-data collection speed: env steps per second of ``skill-rl play collect`` (scripted player + HDF5).

    nice -n 10 python benchmarks/play_collect.py                          # 3 rounds of 0.05 h of play
    python benchmarks/play_collect.py --debug --out /tmp/play_collect.json   # 1 round of 200 steps (smoke)

Each round is one :func:`skill_rl.play.collect.collect_play` call at the ``configs/play_collect.yaml``
defaults (200-step episodes, action noise 0.1, gzip) into a temporary folder, timed by the collector itself
(``steps_per_s``: player, physics, per-step bookkeeping and the chunked HDF5 writes together). Reported: each
round's steps/s (wall-clock) and steps per CPU-second of this process (less sensitive to other processes on a
shared machine), their medians, and what they make of one hour of play (72,000 steps at 20 Hz).
Rounds use seeds 0, 1, 2, ... so they collect different episodes. Writes
``benchmarks/results/play_collect.json`` (atomically).
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

os.environ.setdefault("MUJOCO_GL", "osmesa")

RESULTS = Path(__file__).resolve().parent / "results" / "play_collect.json"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--hours", type=float, default=0.05, help="simulated hours of play per round")
    p.add_argument("--debug", action="store_true", help="1 round of 200 steps")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.debug:
        args.rounds, args.hours = 1, 200 / (3600 * 20)

    from skill_rl.fileio import atomic_write_json
    from skill_rl.play.collect import PlayCollectConfig, collect_play

    t0 = time.perf_counter()
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            cpu0 = time.process_time()
            s = collect_play(PlayCollectConfig(hours_of_play=args.hours, seed=r, run_root=tmp, run_name=f"round{r}"),
                             progress=False)
            cpu = time.process_time() - cpu0
            rounds.append({"steps": s["steps"], "episodes": s["episodes"], "elapsed_s": s["elapsed_s"],
                           "steps_per_s": round(s["steps_per_s"], 1), "cpu_s": round(cpu, 2),
                           "steps_per_cpu_s": round(s["steps"] / cpu, 1)})
            print(f"round {r}: {s['steps']} steps, {s['steps_per_s']:.0f} steps/s "
                  f"({rounds[-1]['steps_per_cpu_s']:.0f} per CPU-second)", flush=True)
    median = statistics.median(r["steps_per_s"] for r in rounds)
    cpu_median = statistics.median(r["steps_per_cpu_s"] for r in rounds)
    payload = {"benchmark": "play_collect", "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "debug": args.debug, "what": "collect_play at the configs/play_collect.yaml defaults, env steps/s",
               "hours_per_round": args.hours, "rounds": rounds, "steps_per_s_median": round(median, 1),
               "seconds_per_hour_of_play": round(72_000 / median, 1),
               "steps_per_cpu_s_median": round(cpu_median, 1),
               "cpu_seconds_per_hour_of_play": round(72_000 / cpu_median, 1),
               "machine": {"python": platform.python_version(), "platform": platform.platform(),
                           "cpus": os.cpu_count(), "loadavg_1m": round(os.getloadavg()[0], 2)},
               "wall_s": round(time.perf_counter() - t0, 1)}
    atomic_write_json(args.out, payload)
    print(f"median {median:.0f} steps/s: one hour of play in {payload['seconds_per_hour_of_play']:.0f} s; "
          f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
