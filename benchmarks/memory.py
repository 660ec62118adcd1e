#!/usr/bin/env python
"""Memory per env instance: our TabletopLift vs robosuite 1.4 Lift.

    python benchmarks/memory.py [--quick]      # ~15 s (--quick: ~8 s)
    python benchmarks/memory.py --debug --out /tmp/memory.json   # smoke: ours only, N in (1, 2), one subprocess each

For each simulator and each N in (1, 8), a fresh Python subprocess imports the simulator, records its
resident set size (RSS), makes N envs, resets each and steps each 10 times with random actions, then
records RSS again and its peak RSS (``ru_maxrss``). From the two deltas:

* ``mb_per_instance`` = (delta(8) - delta(1)) / 7: the marginal cost of one more env (the slope);
* ``first_instance_mb`` = delta(1): includes one-time costs (lazy imports, caches) plus one env;
* ``baseline_mb``: RSS of the process after importing the simulator, before any env.

Same settings as ``env_throughput.py``: our env with its defaults (state obs, no renderer); robosuite
Panda/OSC_POSE, control_freq 20, no renderers, no camera obs. Writes ``benchmarks/results/memory.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "memory.json"
COUNTS = (1, 8)
STEPS = 10
MB = 1024.0 * 1024.0


# ----------------------------------------------------------------------------- child
def child(kind: str, n: int) -> dict[str, Any]:
    import psutil

    proc = psutil.Process()
    rss_start = proc.memory_info().rss
    import numpy as np

    if kind == "ours":
        import mujoco  # noqa: F401

        from skill_rl.envs import make

        def make_env():
            return make("TabletopLift-v0")

        def run(env, rng):
            env.reset(seed=int(rng.integers(1 << 30)))
            for _ in range(STEPS):
                env.step(rng.uniform(-1, 1, size=env.action_space.shape).astype(np.float32))

    elif kind == "robosuite":
        import robosuite as suite
        from robosuite.controllers import load_controller_config

        def make_env():
            return suite.make(
                "Lift", robots="Panda", controller_configs=load_controller_config(default_controller="OSC_POSE"),
                control_freq=20, has_renderer=False, has_offscreen_renderer=False, use_camera_obs=False,
                ignore_done=True, hard_reset=False,
            )

        def run(env, rng):
            env.reset()
            low, high = env.action_spec
            for _ in range(STEPS):
                env.step(rng.uniform(low, high))

    else:
        raise ValueError(f"unknown kind {kind!r}")

    rss_imported = proc.memory_info().rss
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    envs = [make_env() for _ in range(n)]
    for env in envs:
        run(env, rng)
    build_s = time.perf_counter() - t0
    rss_after = proc.memory_info().rss
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return {
        "kind": kind,
        "n": n,
        "rss_start_mb": rss_start / MB,
        "rss_imported_mb": rss_imported / MB,
        "rss_after_mb": rss_after / MB,
        "delta_mb": (rss_after - rss_imported) / MB,
        # ru_maxrss: kilobytes on Linux, bytes on macOS; never below the RSS just read
        "peak_rss_mb": max(peak_kb / 1024.0 if sys.platform != "darwin" else peak_kb / MB, rss_after / MB),
        "make_reset_step_s": build_s,
    }


def run_child(kind: str, n: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", kind, str(n)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    if out.returncode != 0:
        raise RuntimeError(f"child {kind} n={n} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1]
    return json.loads(line)


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--child", nargs=2, metavar=("KIND", "N"), help=argparse.SUPPRESS)
    p.add_argument("--quick", action="store_true", help="one subprocess per (simulator, N) instead of two")
    p.add_argument("--no-robosuite", action="store_true")
    p.add_argument("--debug", action="store_true", help="smoke run: ours only, N in (1, 2), one subprocess each")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]))))
        return 0

    t_start = time.perf_counter()
    if args.debug:
        args.quick, args.no_robosuite = True, True
    counts = (1, 2) if args.debug else COUNTS
    repeats = 1 if args.quick else 2
    kinds = ["ours"] + ([] if args.no_robosuite else ["robosuite"])
    raw: dict[str, dict[int, list[dict[str, Any]]]] = {k: {n: [] for n in counts} for k in kinds}
    for _ in range(repeats):
        for kind in kinds:
            for n in counts:
                res = run_child(kind, n)
                raw[kind][n].append(res)
                print(f"{kind:10s} N={n}: +{res['delta_mb']:.1f} MB (imported {res['rss_imported_mb']:.1f} MB)", flush=True)

    summary: dict[str, Any] = {}
    for kind in kinds:
        med = {n: {k: statistics.median(r[k] for r in raw[kind][n])
                   for k in ("rss_start_mb", "rss_imported_mb", "rss_after_mb", "delta_mb", "peak_rss_mb")}
               for n in counts}
        lo, hi = counts
        slope = (med[hi]["delta_mb"] - med[lo]["delta_mb"]) / (hi - lo)
        summary[kind] = {
            "mb_per_instance": round(slope, 2),
            "first_instance_mb": round(med[lo]["delta_mb"], 2),
            "baseline_mb": round(med[lo]["rss_imported_mb"], 1),
            "interpreter_mb": round(med[lo]["rss_start_mb"], 1),
            **{f"n{n}": {k: round(v, 1) for k, v in med[n].items()} for n in counts},
        }
    if "ours" in summary and "robosuite" in summary and summary["ours"]["mb_per_instance"] > 0:
        summary["robosuite_vs_ours_per_instance"] = round(
            summary["robosuite"]["mb_per_instance"] / summary["ours"]["mb_per_instance"], 2)

    import mujoco

    machine = {"cpu_count": os.cpu_count(), "python": platform.python_version(), "mujoco": mujoco.__version__,
               "platform": platform.platform()}
    machine["robosuite"] = None
    if "robosuite" in kinds:
        import robosuite

        machine["robosuite"] = robosuite.__version__
    payload = {
        "benchmark": "memory",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine,
        "debug": args.debug,
        "settings": {"counts": list(counts), "steps_per_env": STEPS, "repeats": repeats,
                     "metric": "RSS (psutil) after make + reset + 10 random steps per env, minus RSS after imports"},
        "results": summary,
        "runs": {k: {str(n): v for n, v in d.items()} for k, d in raw.items()},
        "wall_s": round(time.perf_counter() - t_start, 1),
    }
    # Imported here, not at module level: the child's baseline is a bare interpreter.
    from skill_rl.fileio import atomic_write_json

    atomic_write_json(args.out, payload)
    print(json.dumps(summary, indent=2))
    print(f"wrote {args.out} in {payload['wall_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
