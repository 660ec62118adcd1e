"""Why robosuite 1.4.0: steps/s of robosuite 1.4.0 vs 1.5.2 on Lift, measured side by side.

Each version lives in its own virtual environment (they cannot share one); this script builds the
1.5.2 environment on first use (``--venv``, default ``/tmp/skill_rl_robosuite152``, needs PyPI) and then
alternates timing runs between the two interpreters so machine noise hits both alike.

    python benchmarks/robosuite_versions.py [--rounds 3] [--steps 300]
    python benchmarks/robosuite_versions.py --debug --out /tmp/rv.json   # 1.4.0 only, 1 round of 20 steps (smoke)

Writes ``benchmarks/results/robosuite_versions.json`` (``--out``), atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from skill_rl.fileio import atomic_write_json

RESULTS = Path(__file__).resolve().parent / "results" / "robosuite_versions.json"

TIMING = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np, mujoco, robosuite as suite
try:
    from robosuite import load_controller_config  # 1.4
    controller = load_controller_config(default_controller="OSC_POSE")
    kw = {"controller_configs": controller}
except ImportError:  # 1.5 composite controllers: default for Panda is BASIC (OSC_POSE arm)
    kw = {}
env = suite.make("Lift", robots="Panda", has_renderer=False, has_offscreen_renderer=False,
                 use_camera_obs=False, control_freq=20, ignore_done=True, hard_reset=False, **kw)
env.reset()
rng = np.random.default_rng(0)
dim = env.action_spec[0].shape[0]
for _ in range(20):
    env.step(rng.uniform(-1, 1, dim))
n = int(sys.argv[1])
t = time.perf_counter()
for _ in range(n):
    env.step(rng.uniform(-1, 1, dim))
dt = time.perf_counter() - t
print(json.dumps({"robosuite": suite.__version__, "mujoco": mujoco.__version__,
                  "steps_per_s": n / dt, "timestep": env.sim.model.opt.timestep}))
"""


def ensure_venv(path: Path) -> Path:
    python = path / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(path)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "robosuite==1.5.2", "mujoco==3.3.7", "numpy<2"],
                       check=True)
    return python


def time_once(python: str, steps: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MUJOCO_GL": os.environ.get("MUJOCO_GL", "osmesa")}
    out = subprocess.run([python, "-c", TIMING, str(steps)], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", default="/tmp/skill_rl_robosuite152")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--debug", action="store_true", help="1.4.0 only (no venv, no network), 1 round of 20 steps")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.debug:
        args.rounds, args.steps = 1, 20
    interpreters = {"1.4.0": sys.executable}
    if not args.debug:
        interpreters["1.5.2"] = str(ensure_venv(Path(args.venv)))
    runs: dict[str, list[dict]] = {k: [] for k in interpreters}
    for _ in range(args.rounds):
        for version, python in interpreters.items():
            runs[version].append(time_once(python, args.steps))
    median = {v: statistics.median(r["steps_per_s"] for r in rs) for v, rs in runs.items()}
    result = {
        "task": "Lift, Panda, OSC_POSE, 20 Hz control, no rendering, random actions",
        "versions": {v: {"mujoco": rs[0]["mujoco"], "robosuite": rs[0]["robosuite"], "timestep": rs[0]["timestep"],
                         "steps_per_s_runs": [round(r["steps_per_s"], 1) for r in rs],
                         "steps_per_s_median": round(median[v], 1)} for v, rs in runs.items()},
        "ratio_1_4_over_1_5": round(median["1.4.0"] / median["1.5.2"], 2) if "1.5.2" in median else None,
        "debug": args.debug,
    }
    atomic_write_json(args.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
