#!/usr/bin/env python
"""Quality: SLIM vs naive sum vs LSD vs METRA vs DIAYN on TabletopPush, same base and budget, 3 seeds.

    nice -n 10 python benchmarks/slim_quality.py --jobs 2             # PPO base: SLIM, naive sum, LSD, DIAYN
    nice -n 10 python benchmarks/slim_quality.py --algos metra --merge   # add a METRA row
    nice -n 10 python benchmarks/slim_quality.py --algos slim_sac naive_sum_sac lsd_sac diayn_sac \
        --steps 6000 --width 128 --batch 128 --out benchmarks/results/slim_quality_sac   # the SAC base
    python benchmarks/slim_quality.py --debug                         # tiny, seconds (CI smoke)

Every run is ``skill_rl.discovery.train.run_discovery`` with the algorithm's config file
(``configs/slim_push.yaml``, ``configs/discovery_{naive_sum,lsd,metra,diayn}.yaml``; a ``_sac`` suffix sets
``base=sac``) and the same overrides for all: ``total_steps`` (the env-step budget), 50-step episodes, 4
discrete skills, network widths, batch, PPO's rollout length, SAC's ``train_freq`` (updates per env step) and
``learning_starts``, seed. Then the
final policy is evaluated by ``run_discovery`` itself (every skill, ``eval_episodes_per_skill`` rollouts
from the same starts) and the metrics of :mod:`skill_rl.discovery.metrics` are collected:

* ``object_coverage``: distinct 10 cm cells holding the cube at episode end, over all rollouts;
* ``skill_classifier_accuracy``: held-out accuracy of telling z from the trajectory (chance 0.25);
* ``skill_distinctness``: mean pairwise distance (m) between the skills' mean cube end positions;
* ``safety_violation_rate`` (fraction of steps) and ``episodes_with_violation``;
* ``mean_object_displacement`` (m) and ``grasp_consistency``.

Results are written after every run (so a stopped benchmark keeps what it measured) to
``benchmarks/results/slim_quality.json`` (per run + mean/std per algorithm) and ``slim_quality.md``
(the table, mean ± sample std over seeds). Wall-clock is reported per run and in total.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from skill_rl.discovery.algorithms import ALGORITHMS, BASES
from skill_rl.fileio import atomic_write_json, atomic_write_text

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
# Every registered algorithm on every base, as (config file, base): "<algo>" on ppo, "<algo>_<base>" on the others.
ALGOS = {(a if b == "ppo" else f"{a}_{b}"): (spec.config, b) for b in BASES.names() for a, spec in ALGORITHMS.items()}
METRICS = ("object_coverage", "skill_classifier_accuracy", "skill_distinctness", "safety_violation_rate",
           "episodes_with_violation", "mean_object_displacement", "grasp_consistency")


def aggregate(runs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """algo -> metric -> {mean, std, n} over the finished runs; std is the sample std (ddof=1), not the population std."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for algo in dict.fromkeys(r["algo"] for r in runs):
        rs = [r for r in runs if r["algo"] == algo]
        out[algo] = {}
        for m in (*METRICS, "wall_s"):
            vals = [float(r["eval"][m]) if m != "wall_s" else float(r["wall_s"]) for r in rs
                    if m == "wall_s" or m in r["eval"]]
            if vals:
                out[algo][m] = {"mean": statistics.fmean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else 0.0,
                                "n": len(vals)}
    return out


KINDS = ("joint_limit", "joint_velocity", "object_off_table", "arm_table_contact")


def violation_table(runs: list[dict[str, Any]]) -> str:
    """Which constraint the violations are (fraction of evaluation steps, mean over seeds), when measured."""
    rows = []
    for algo in dict.fromkeys(r["algo"] for r in runs):
        rs = [r for r in runs if r["algo"] == algo and f"violation_rate_{KINDS[0]}" in r["eval"]]
        if rs:
            cells = [f"{statistics.fmean(r['eval'][f'violation_rate_{k}'] for r in rs):.3f}" for k in KINDS]
            rows.append(f"| {algo} (n={len(rs)}) | " + " | ".join(cells) + " |")
    if not rows:
        return ""
    return ("\nViolations by kind (fraction of evaluation steps, mean over seeds):\n\n| algo | " + " | ".join(KINDS)
            + " |\n" + "|---" * (len(KINDS) + 1) + "|\n" + "\n".join(rows) + "\n")


def reevaluate(stem: Path) -> None:
    """Evaluate the stored runs' final policies again (``evaluate_run``, deterministic) and keep the new
    metrics: a results file made before a metric existed gets it without retraining. The run folders must
    still exist (they live in a temporary directory of the machine that trained them)."""
    from skill_rl.discovery.train import evaluate_run

    data = json.loads(Path(f"{stem}.json").read_text())
    for r in data["runs"]:
        again = evaluate_run(r["run_dir"], video=False)["eval"]
        changed = [k for k in r["eval"] if k in again and abs(again[k] - r["eval"][k]) > 1e-9]
        if changed:
            raise SystemExit(f"{r['algo']} seed {r['seed']}: re-evaluation differs in {changed}; not overwriting")
        r["eval"] = again
    data["summary"] = aggregate(data["runs"])
    data["reevaluated"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    atomic_write_json(f"{stem}.json", data)
    md = Path(f"{stem}.md").read_text().split("\nViolations by kind")[0].rstrip("\n") + "\n"
    atomic_write_text(f"{stem}.md", md + violation_table(data["runs"]))
    print(Path(f"{stem}.md").read_text())


def markdown(agg: dict[str, dict[str, dict[str, float]]], settings: dict[str, Any]) -> str:
    cols = ("object_coverage", "skill_classifier_accuracy", "skill_distinctness", "safety_violation_rate",
            "episodes_with_violation", "mean_object_displacement", "grasp_consistency", "wall_s")
    head = ("coverage (cells)", "z accuracy", "distinctness (m)", "violation rate (steps)", "episodes w/ violation",
            "displacement (m)", "grasp", "wall (s)")
    extra = f" with {', '.join(settings['overrides'])}" if settings.get("overrides") else ""
    lines = [f"SLIM quality on TabletopPush{extra}: {settings['steps']} env steps per run, seeds {settings['seeds']}, "
             "mean ± sample std over seeds", "", "| algo | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
    for algo, ms in agg.items():
        cells = []
        for c in cols:
            if c in ms:
                fmt = ".0f" if c == "wall_s" else ".3g"
                cells.append(f"{ms[c]['mean']:{fmt}} ± {ms[c]['std']:{fmt}}")
            else:
                cells.append("-")
        n = ms.get("wall_s", {}).get("n", 0)
        lines.append(f"| {algo} (n={n}) | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _one_run(algo: str, seed: int, overrides: list[str]) -> dict[str, Any]:
    """One training run + its evaluation, in a worker process (one torch thread)."""
    import torch as th

    th.set_num_threads(1)
    from skill_rl.config import load_config
    from skill_rl.discovery.train import DiscoveryConfig, run_discovery

    config, base = ALGOS[algo]
    cfg = load_config(DiscoveryConfig, REPO / "configs" / f"{config}.yaml", [*overrides, f"base={base}", f"seed={seed}"])
    w0 = time.perf_counter()
    summary = run_discovery(cfg, progress=False)
    return {"algo": algo, "base": base, "seed": seed, "wall_s": round(time.perf_counter() - w0, 1),
            "eval": summary["eval"], "episode_returns": summary["episode_returns"], "run_dir": summary["run_dir"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--algos", nargs="+", default=["slim", "naive_sum", "lsd", "diayn"], choices=list(ALGOS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=150_000, help="env steps per run (the same for every algorithm)")
    p.add_argument("--width", type=int, default=256, help="actor/critic/φ hidden width (2 layers)")
    p.add_argument("--train-freq", type=int, default=2, help="SAC: one gradient step every this many env steps")
    p.add_argument("--batch", type=int, default=256, help="minibatch (PPO) / batch (SAC)")
    p.add_argument("--jobs", type=int, default=1, help="runs in parallel worker processes (one torch thread each)")
    p.add_argument("--learning-starts", type=int, default=1000)
    p.add_argument("--episode-steps", type=int, default=50)
    p.add_argument("--eval-episodes", type=int, default=3, help="evaluation rollouts per skill")
    p.add_argument("--max-minutes", type=float, default=120.0,
                   help="start no new run after this many minutes (the results say which runs were done)")
    p.add_argument("--ppo-steps", type=int, default=2048, help="PPO rollout length (n_steps)")
    p.add_argument("--merge", action="store_true",
                   help="keep the runs already in the results file (replacing the same algo and seed)")
    p.add_argument("--debug", action="store_true", help="tiny: 300 steps, 1 seed, small nets")
    p.add_argument("--out", type=Path, default=None, help="results stem (default benchmarks/results/slim_quality)")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", dest="extra",
                   help="more config overrides for every run (e.g. weights.safety=3)")
    p.add_argument("--reevaluate", action="store_true",
                   help="evaluate the runs in the results file again with the current metrics, then stop")
    args = p.parse_args(argv)
    if args.reevaluate:
        reevaluate(args.out or RESULTS / "slim_quality")
        return 0
    if args.debug:
        args.seeds, args.steps, args.width, args.batch, args.learning_starts = args.seeds[:1], 300, 32, 32, 100
        args.ppo_steps, args.jobs = 100, min(args.jobs, 2)
        args.eval_episodes = 2
    stem = args.out or (Path(tempfile.gettempdir()) / "slim_quality_debug" if args.debug else RESULTS / "slim_quality")
    settings = {"env": "TabletopPush-v0", "steps": args.steps, "seeds": args.seeds, "width": args.width,
                "ppo_n_steps": args.ppo_steps, "ppo_epochs": 10,
                "train_freq": args.train_freq, "gradient_steps": 1, "batch": args.batch,
                "learning_starts": args.learning_starts, "episode_steps": args.episode_steps, "n_skills": 4,
                "discrete_skills": True, "eval_episodes_per_skill": args.eval_episodes, "torch_threads": 1,
                "overrides": list(args.extra)}
    runs: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []
    if args.merge and Path(f"{stem}.json").is_file():
        old = json.loads(Path(f"{stem}.json").read_text())
        prev = old.get("settings", {})
        if any(prev[k] != settings[k] for k in prev if k in settings and k != "seeds"):
            raise SystemExit(f"--merge: {stem}.json was made with other settings: {old.get('settings')}")
        kept = [r for r in old["runs"] if not (r["algo"] in args.algos and r["seed"] in args.seeds)]
    t0 = time.perf_counter()
    run_root = Path(tempfile.mkdtemp(prefix="slim_quality_runs_"))
    overrides = [f"learning_starts={args.learning_starts}", f"batch_size={args.batch}",
                 f"net_arch=[{args.width},{args.width}]", f"phi_hidden=[{args.width},{args.width}]",
                 f"train_freq={args.train_freq}", "gradient_steps=1", f"env_options={{max_episode_steps: {args.episode_steps}}}",
                 "n_skills=4", "discrete_skills=true", f"eval_episodes_per_skill={args.eval_episodes}", "video=false",
                 f"total_steps={args.steps}", f"checkpoint_every={max(args.steps, 1)}", "save_replay_buffer=false",
                 f"run_root={run_root}", f"buffer_size={max(args.steps, 1000)}", f"n_steps={args.ppo_steps}",
                 "n_epochs=10", "n_envs=1",  # this table's PPO settings: one env, 10 epochs (slim_scale.py: the vector ones)
                 *args.extra]
    # seeds outermost: a stopped benchmark has every algorithm at the first seeds
    todo = [(algo, seed) for seed in args.seeds for algo in args.algos]
    stopped = False
    payload: dict[str, Any] = {}
    with ProcessPoolExecutor(max_workers=max(1, args.jobs), mp_context=mp.get_context("spawn")) as pool:
        pending = {}
        while todo or pending:
            while todo and len(pending) < max(1, args.jobs) and not stopped:
                if time.perf_counter() - t0 > args.max_minutes * 60:
                    stopped = True
                    break
                algo, seed = todo.pop(0)
                pending[pool.submit(_one_run, algo, seed, overrides)] = (algo, seed)
            if stopped and not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                pending.pop(fut)
                run = fut.result()
                runs.append(run)
                ev = run["eval"]
                print(f"{run['algo']:13s} seed {run['seed']}: coverage {ev['object_coverage']:.0f}  z-acc "
                      f"{ev['skill_classifier_accuracy']:.2f}  distinct {ev['skill_distinctness']:.3f} m  viol "
                      f"{ev['safety_violation_rate']:.3f}  disp {ev['mean_object_displacement']:.3f} m  "
                      f"({run['wall_s']:.0f} s)", flush=True)
                order = {(a, sd): i for i, (sd, a) in enumerate((sd, a) for sd in args.seeds for a in args.algos)}
                runs.sort(key=lambda r: order.get((r["algo"], r["seed"]), -1))
                agg = aggregate(kept + runs)
                payload = {"benchmark": "slim_quality", "stopped_at_time_limit": False,
                           "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                           "debug": args.debug, "settings": settings, "summary": agg, "runs": kept + runs,
                           "elapsed_s": round(time.perf_counter() - t0, 1), "jobs": args.jobs,
                           "loadavg": [round(x, 2) for x in os.getloadavg()]}
                atomic_write_json(f"{stem}.json", payload)
                atomic_write_text(f"{stem}.md", markdown(agg, settings)
                              + f"\nTotal wall-clock: {payload['elapsed_s']:.0f} s with {args.jobs} parallel run(s) "
                                "(shared 2-core CPU, nice 10, 1 torch thread per run).\n" + violation_table(kept + runs))
    if stopped:
        payload["stopped_at_time_limit"] = True
        atomic_write_json(f"{stem}.json", payload)
        print(f"stopped at the {args.max_minutes} min limit after {len(runs)} runs")
    print(markdown(aggregate(kept + runs), settings))
    print(f"wrote {stem}.json and {stem}.md in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
