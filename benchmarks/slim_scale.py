#!/usr/bin/env python
"""Quality at the literature's budget: SLIM vs naive sum vs LSD (3 seeds) and METRA, DIAYN (1 seed), 2 M env
steps per run on TabletopPush, with learning curves; resumable over many sittings.

    OMP_NUM_THREADS=1 nohup nice -n 19 python benchmarks/slim_scale.py --jobs 2 > runs/slim_scale/log.txt 2>&1 &
    python benchmarks/slim_scale.py --table-only      # results files from whatever is finished, now
    python benchmarks/slim_scale.py --debug           # tiny, ~1 min (CI smoke)

Every cell (algorithm, seed) is one ``run_discovery`` run in its own folder ``<root>/<algo>_s<seed>/run-*``
(the algorithm's config file with the same overrides for all: ``total_steps``, 50-step episodes, 4 discrete
skills, the PPO base with its vector collector and its default settings, seed), trained in segments of
``--eval-every`` env steps: after each segment the checkpoint is evaluated (every metric of
:mod:`skill_rl.discovery.metrics`, deterministic rollouts of every skill from ``--eval-episodes`` starts) and
the point appended to ``<cell>/curve.jsonl``; the segment's wall time goes to ``<cell>/segments.jsonl``.

Surviving a stop: a killed run resumes from its latest checkpoint (written every ``checkpoint_every`` env
steps), a curve point already measured is not measured again, and a finished cell (``summary.json`` with
``completed: true``) is skipped. So the same command, run again, carries on where the matrix stopped.

Results (``--out`` stem, default ``benchmarks/results/slim_scale``): ``.json`` (every cell's state, final
metrics and curve; per algorithm mean ± sample std over its FINISHED seeds), ``.md`` (the table, with the cells
not finished listed and marked) and ``_curves.png`` (every metric against env steps, mean ± std over seeds at
each evaluated step, unfinished runs included up to where they are). ``--table-only`` writes them without
training. The estimate of the total time uses the measured env steps/s of the segments done so far.
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

from skill_rl.discovery.algorithms import ALGORITHMS
from skill_rl.fileio import atomic_write_json, atomic_write_text

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
DEFAULT_ROOT = Path("runs/slim_scale")
METRICS = ("object_coverage", "skill_classifier_accuracy", "skill_distinctness", "safety_violation_rate",
           "episodes_with_violation", "mean_object_displacement", "grasp_consistency")
KINDS = ("joint_limit", "joint_velocity", "object_off_table", "arm_table_contact")
CURVE_METRICS = ("object_coverage", "skill_distinctness", "grasp_consistency", "mean_object_displacement",
                 "skill_classifier_accuracy", "safety_violation_rate", *(f"violation_rate_{k}" for k in KINDS))


# ----------------------------------------------------------------------------- cells on disk
def cell_dir(root: Path, algo: str, seed: int) -> Path:
    return root / f"{algo}_s{seed}"


def find_run(cell: Path) -> Path | None:
    runs = sorted(p for p in cell.glob("run-*") if (p / "config.yaml").is_file())
    return runs[-1] if runs else None


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut by a kill: the point is measured again
            continue
    return out


def append_jsonl(path: Path, row: dict[str, Any]) -> None:
    with path.open("a") as f:
        f.write(json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())


SCALE_TAGS = ("train/advantage_std_head", "train/reward_mean_head", "train/lagrange_multiplier_head",
              "train/constraint_cost_head")


def training_scales(run: Path | None, tail_bytes: int = 400_000) -> dict[str, float]:
    """The latest per-critic training scales a run logged (raw advantage std and mean reward of each head;
    with safety as a constraint, its multiplier and the rollout's violation cost), from metrics.csv's tail."""
    path = run / "metrics.csv" if run else None
    if path is None or not path.is_file():
        return {}
    with path.open("rb") as f:
        f.seek(max(0, path.stat().st_size - tail_bytes))
        lines = f.read().decode(errors="replace").splitlines()[1:]
    out: dict[str, float] = {}
    for line in lines:
        parts = line.split(",")
        if len(parts) >= 3 and parts[1].startswith(SCALE_TAGS):
            try:
                out[parts[1]] = float(parts[2])
            except ValueError:
                continue
    return out


def cell_state(root: Path, algo: str, seed: int) -> dict[str, Any]:
    """What is on disk for a cell: status (``finished`` / ``running or stopped`` / ``not started``), latest
    checkpoint step, final metrics, curve points and segment times."""
    from skill_rl.discovery.checkpoints import CKPT_RE, find_checkpoints

    cell = cell_dir(root, algo, seed)
    run = find_run(cell)
    summary = json.loads((run / "summary.json").read_text()) if run and (run / "summary.json").is_file() else {}
    ckpts = find_checkpoints(run / "ckpt") if run else []
    step = int(CKPT_RE.match(ckpts[-1].name).group(1)) if ckpts else 0  # type: ignore[union-attr]
    finished = bool(summary.get("completed"))
    curve = sorted({p["step"]: p for p in read_jsonl(cell / "curve.jsonl")}.values(), key=lambda p: p["step"])
    return {"algo": algo, "seed": seed, "run_dir": str(run) if run else None,
            "status": "finished" if finished else ("running or stopped" if run else "not started"),
            "step": int(summary.get("num_timesteps", step)) if finished else step,
            "eval": summary.get("eval", {}) if finished else {}, "curve": curve,
            "segments": read_jsonl(cell / "segments.jsonl"), "training_scales": training_scales(run)}


# ----------------------------------------------------------------------------- one cell (worker process)
def _config(algo: str, seed: int, args_d: dict[str, Any], cell: Path):
    from skill_rl.config import load_config
    from skill_rl.discovery.train import DiscoveryConfig

    spec = ALGORITHMS.get(algo)
    overrides = [f"total_steps={args_d['steps']}", f"env_options={{max_episode_steps: {args_d['episode_steps']}}}",
                 "n_skills=4", "discrete_skills=true", "base=ppo", f"seed={seed}", "video=false",
                 f"eval_episodes_per_skill={args_d['eval_episodes']}", f"run_root={cell}", "run_name=run",
                 f"checkpoint_every={args_d['checkpoint_every']}", "keep_checkpoints=2", "device=cpu",
                 *args_d["extra"]]
    return load_config(DiscoveryConfig, REPO / "configs" / f"{spec.config}.yaml", overrides)


def _evaluate_checkpoint(ckpt: Path, cfg: Any) -> dict[str, float]:
    """Every metric of the checkpoint's policy (the same rollouts and metrics ``run_discovery`` ends with)."""
    from skill_rl.discovery.checkpoints import load_checkpoint
    from skill_rl.discovery.factory import make_env
    from skill_rl.discovery.policy import SkillPolicy
    from skill_rl.discovery.rollouts import evaluate_skills

    env = make_env(cfg)
    try:
        model = load_checkpoint(ckpt, device="cpu", replay_buffer=False)
        policy = SkillPolicy.from_model(model, cfg.n_skills, cfg.discrete_skills, env.obs_layout)
        return evaluate_skills(policy, env, cfg)
    finally:
        env.close()


def run_cell(algo: str, seed: int, args_d: dict[str, Any], deadline: float) -> dict[str, Any]:
    """Train one cell segment by segment until it is finished or ``deadline`` (time.time()) has passed."""
    import dataclasses

    import torch as th

    th.set_num_threads(1)
    from skill_rl.discovery.checkpoints import CKPT_RE, find_checkpoints
    from skill_rl.discovery.train import run_discovery

    root = Path(args_d["root"])
    cell = cell_dir(root, algo, seed)
    cell.mkdir(parents=True, exist_ok=True)
    every, total = args_d["eval_every"], args_d["steps"]
    while time.time() < deadline:
        state = cell_state(root, algo, seed)
        if state["status"] == "finished":
            break
        done_steps = {p["step"] for p in state["curve"]}
        cfg = _config(algo, seed, args_d, cell)
        run = find_run(cell)
        if run is not None and state["step"] % every == 0 and state["step"] not in done_steps:
            # stopped between a segment's end and its evaluation: measure that point first
            ckpt = find_checkpoints(run / "ckpt")[-1]
            append_jsonl(cell / "curve.jsonl", {"step": state["step"], "eval": _evaluate_checkpoint(ckpt, cfg)})
            continue
        if run is not None and find_checkpoints(run / "ckpt"):
            cfg = dataclasses.replace(cfg, resume=str(run))
        start = state["step"]
        stop = 0 if run is None else min(total, (start // every + 1) * every)
        t0 = time.perf_counter()
        summary = run_discovery(cfg, progress=False, stop_after=stop)
        wall = time.perf_counter() - t0
        end = int(summary["num_timesteps"])
        append_jsonl(cell / "segments.jsonl", {"from": start, "to": end, "wall_s": round(wall, 1),
                                               "loadavg": round(os.getloadavg()[0], 2),
                                               "time": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        if end in done_steps:
            continue
        if summary["completed"]:
            ev = summary["eval"]
        else:
            run = Path(summary["run_dir"])
            ckpt = next(p for p in find_checkpoints(run / "ckpt") if int(CKPT_RE.match(p.name).group(1)) == end)  # type: ignore[union-attr]
            ev = _evaluate_checkpoint(ckpt, dataclasses.replace(cfg, resume=None))
        append_jsonl(cell / "curve.jsonl", {"step": end, "eval": ev})
        print(f"{algo} seed {seed}: {end} steps, coverage {ev.get('object_coverage', float('nan')):.0f}, "
              f"violations {ev.get('safety_violation_rate', float('nan')):.3f} ({wall:.0f} s)", flush=True)
    return cell_state(root, algo, seed)


# ----------------------------------------------------------------------------- the results
def aggregate(cells: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """algo -> metric -> {mean, std, n} over the FINISHED cells; std is the sample std (ddof=1)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for algo in dict.fromkeys(c["algo"] for c in cells):
        done = [c for c in cells if c["algo"] == algo and c["status"] == "finished"]
        if not done:
            continue
        out[algo] = {}
        for m in (*METRICS, *(f"violation_rate_{k}" for k in KINDS)):
            vals = [float(c["eval"][m]) for c in done if m in c["eval"]]
            if vals:
                out[algo][m] = {"mean": statistics.fmean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else 0.0,
                                "n": len(vals)}
    return out


def _fmt(ms: dict[str, dict[str, float]], m: str) -> str:
    return f"{ms[m]['mean']:.3g} ± {ms[m]['std']:.3g}" if m in ms else "-"


def markdown(payload: dict[str, Any]) -> str:
    s, agg, cells = payload["settings"], payload["summary"], payload["cells"]
    head = ("coverage (cells)", "z accuracy", "distinctness (m)", "violation rate (steps)", "episodes w/ violation",
            "displacement (m)", "grasp")
    lines = [f"SLIM at scale on TabletopPush: {s['steps']:,} env steps per run (PPO base, {s['n_envs']} envs), "
             "mean ± sample std over the FINISHED seeds", "",
             "| algo | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
    for algo, ms in agg.items():
        n = ms.get("object_coverage", {}).get("n", 0)
        want = len([c for c in cells if c["algo"] == algo])
        lines.append(f"| {algo} (n={n} of {want}) | " + " | ".join(_fmt(ms, m) for m in METRICS) + " |")
    if not agg:
        lines.append("| (no run finished yet) |" + " |" * len(head))
    lines += ["", "Violations by kind (fraction of evaluation steps, mean over finished seeds):", "",
              "| algo | " + " | ".join(KINDS) + " |", "|---" * (len(KINDS) + 1) + "|"]
    for algo, ms in agg.items():
        lines.append(f"| {algo} | " + " | ".join(f"{ms[f'violation_rate_{k}']['mean']:.3f}"
                                                   if f"violation_rate_{k}" in ms else "-" for k in KINDS) + " |")
    lines += ["", "Every cell (**finished** cells enter the table above; the others are shown at their latest "
              "evaluated step, which is NOT the budget):", "",
              "| cell | status | env steps | coverage | violation rate | displacement (m) | grasp | wall so far (s) |",
              "|---|---|---|---|---|---|---|---|"]
    for c in cells:
        last = c["curve"][-1] if c["curve"] else None
        ev = c["eval"] if c["status"] == "finished" else (last["eval"] if last else {})
        at = c["step"] if c["status"] == "finished" else (last["step"] if last else 0)
        wall = sum(x["wall_s"] for x in c["segments"])
        status = "**finished**" if c["status"] == "finished" else c["status"]

        def g(k: str, ev: dict[str, Any] = ev) -> str:
            return f"{ev[k]:.3g}" if k in ev else "-"

        lines.append(f"| {c['algo']} seed {c['seed']} | {status} | {at:,} | {g('object_coverage')} | "
                     f"{g('safety_violation_rate')} | {g('mean_object_displacement')} | {g('grasp_consistency')} | "
                     f"{wall:.0f} |")
    scaled = [c for c in cells if c["training_scales"]]
    if scaled:
        heads = sorted({k.rsplit("head", 1)[1] for c in scaled for k in c["training_scales"]})
        lines += ["", "Per-critic scales at the latest update (raw advantage std and mean reward per step of each "
                  "critic head, before SLIM standardises them; slim: heads 0, 1, 2 = discovery, reach, safety; naive sum: "
                  "head 0 = their weighted sum; lsd/metra/diayn: head 0 = discovery; with safety as a constraint, "
                  "the multiplier and the training violation cost per step):", "",
                  "| cell | " + " | ".join(f"head {h}: adv std / mean reward" for h in heads) + " | multiplier | cost |",
                  "|---" * (len(heads) + 3) + "|"]
        for c in scaled:
            sc = c["training_scales"]

            def v(tag: str, sc: dict[str, float] = sc) -> str:
                return f"{sc[tag]:.3g}" if tag in sc else "-"

            mult = next((v(k) for k in sc if "lagrange" in k), "-")
            cost = next((v(k) for k in sc if "constraint_cost" in k), "-")
            lines.append(f"| {c['algo']} seed {c['seed']} | " + " | ".join(
                f"{v(f'train/advantage_std_head{h}')} / {v(f'train/reward_mean_head{h}')}" for h in heads)
                + f" | {mult} | {cost} |")
    t = payload["timing"]
    lines += ["", f"Env steps done: {t['steps_done']:,} of {t['steps_total']:,} ({t['fraction_done']:.1%}); "
              f"wall-clock so far {t['wall_s_so_far']:.0f} s ({t['measured_env_steps_per_s']:.0f} env steps/s "
              f"incl. evaluation, per run, measured on the shared 2-core machine at nice 19 while other work ran); "
              f"estimated remaining: {t['estimated_remaining_h']:.1f} h per run stream "
              f"({payload['jobs']} in parallel: ~{t['estimated_remaining_h'] / max(payload['jobs'], 1):.1f} h if "
              "the streams do not slow each other, which on 2 shared cores they do)."]
    d = payload.get("paper_direction")
    if d:
        lines += ["", f"Paper's direction (SLIM coverage >= 1.5x the naive sum's, at a violation rate <= the naive "
                  f"sum's): {d['verdict']}."]
    lines += ["", "Learning curves: `benchmarks/results/" + Path(payload["curves_png"]).name + "`."]
    return "\n".join(lines) + "\n"


def plot_curves(cells: list[dict[str, Any]], path: Path) -> None:
    """Every metric against env steps: per algorithm the mean over seeds at each evaluated step (± std band)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(2, 5, figsize=(22, 8))
    for ax, m in zip(axes.flat, CURVE_METRICS, strict=True):
        for algo in dict.fromkeys(c["algo"] for c in cells):
            by_step: dict[int, list[float]] = {}
            for c in cells:
                if c["algo"] == algo:
                    for p in c["curve"]:
                        if m in p["eval"]:
                            by_step.setdefault(p["step"], []).append(float(p["eval"][m]))
            if not by_step:
                continue
            steps = np.array(sorted(by_step))
            mean = np.array([np.mean(by_step[s]) for s in steps])
            std = np.array([np.std(by_step[s], ddof=1) if len(by_step[s]) > 1 else 0.0 for s in steps])
            ax.plot(steps, mean, marker=".", label=f"{algo} (n={max(len(v) for v in by_step.values())})")
            ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
        ax.set_title(m.replace("violation_rate_", "violations: "))
        ax.set_xlabel("env steps")
        ax.grid(alpha=0.3)
    if axes.flat[0].get_legend_handles_labels()[0]:
        axes.flat[0].legend(fontsize=8)
    fig.suptitle("TabletopPush skill discovery: metrics against env steps (mean ± std over seeds)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    os.replace(tmp, path)


def write_results(args: argparse.Namespace, todo: list[tuple[str, int]], stem: Path) -> dict[str, Any]:
    cells = [cell_state(args.root, a, s) for a, s in todo]
    steps_done = sum(c["step"] for c in cells)
    steps_total = args.steps * len(todo)
    wall = sum(x["wall_s"] for c in cells for x in c["segments"])
    seg_steps = sum(x["to"] - x["from"] for c in cells for x in c["segments"])
    rate = seg_steps / wall if wall > 0 else float("nan")
    agg = aggregate(cells)
    payload: dict[str, Any] = {
        "benchmark": "slim_scale", "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "debug": args.debug, "root": str(args.root), "jobs": args.jobs,
        "settings": {"env": "TabletopPush-v0", "steps": args.steps, "eval_every": args.eval_every,
                     "episode_steps": args.episode_steps, "n_skills": 4, "discrete_skills": True,
                     "eval_episodes_per_skill": args.eval_episodes, "base": "ppo",
                     "n_envs": 32 if not args.debug else 2, "overrides": list(args.extra),
                     "matrix": [f"{a} seed {s}" for a, s in todo]},
        "summary": agg, "cells": cells,
        "timing": {"steps_done": steps_done, "steps_total": steps_total,
                   "fraction_done": steps_done / steps_total if steps_total else 0.0, "wall_s_so_far": wall,
                   "measured_env_steps_per_s": rate,
                   "estimated_remaining_h": (steps_total - steps_done) / rate / 3600 if rate == rate and rate > 0
                   else float("nan")},
        "curves_png": str(stem.parent / f"{stem.name}_curves.png"),
    }
    if "slim" in agg and "naive_sum" in agg:
        s, n = agg["slim"], agg["naive_sum"]
        cov = s["object_coverage"]["mean"] / max(n["object_coverage"]["mean"], 1e-9)
        safe = s["safety_violation_rate"]["mean"] <= n["safety_violation_rate"]["mean"]
        payload["paper_direction"] = {
            "coverage_ratio_slim_vs_naive_sum": cov, "slim_violations_at_most_naive_sum": safe,
            "met": bool(cov >= 1.5 and safe),
            "verdict": (f"coverage ratio {cov:.2f}, SLIM violations {s['safety_violation_rate']['mean']:.3f} vs "
                        f"naive sum {n['safety_violation_rate']['mean']:.3f}: {'met' if cov >= 1.5 and safe else 'not met'}"
                        f" (finished seeds: slim {s['object_coverage']['n']}, naive_sum {n['object_coverage']['n']})")}
    atomic_write_json(f"{stem}.json", payload)
    plot_curves(cells, Path(payload["curves_png"]))
    atomic_write_text(f"{stem}.md", markdown(payload))
    return payload


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--algos", nargs="+", default=["slim", "naive_sum", "lsd", "metra", "diayn"],
                   choices=ALGORITHMS.names())
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--one-seed", nargs="*", default=["metra", "diayn"], help="algorithms run with the first seed only")
    p.add_argument("--steps", type=int, default=2_000_000, help="env steps per run")
    p.add_argument("--eval-every", type=int, default=100_000, help="env steps between curve points")
    p.add_argument("--episode-steps", type=int, default=50)
    p.add_argument("--eval-episodes", type=int, default=3, help="evaluation rollouts per skill")
    p.add_argument("--checkpoint-every", type=int, default=20_000)
    p.add_argument("--jobs", type=int, default=1, help="cells trained in parallel worker processes")
    p.add_argument("--max-hours", type=float, default=1e9, help="start no new segment after this many hours")
    p.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="run folders (outside git)")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", dest="extra",
                   help="more config overrides for every run (e.g. weights.safety=3)")
    p.add_argument("--table-only", action="store_true", help="write the results from what is on disk, train nothing")
    p.add_argument("--debug", action="store_true", help="tiny: 2 algorithms, 1 seed, 256 steps, small nets")
    p.add_argument("--out", type=Path, default=None, help="results stem (default benchmarks/results/slim_scale)")
    args = p.parse_args(argv)
    if args.debug:
        args.algos, args.seeds, args.steps, args.eval_every, args.checkpoint_every = ["slim", "lsd"], [0], 256, 128, 64
        args.eval_episodes = 2
        if args.root == DEFAULT_ROOT:
            args.root = Path(tempfile.mkdtemp(prefix="slim_scale_debug_"))
        args.extra = [*args.extra, "net_arch=[32,32]", "phi_hidden=[32,32]", "n_envs=2", "n_steps=64", "batch_size=32"]
    stem = args.out or (Path(tempfile.gettempdir()) / "slim_scale_debug" if args.debug else RESULTS / "slim_scale")
    todo = [(a, s) for s in args.seeds for a in args.algos if not (a in args.one_seed and s != args.seeds[0])]
    if args.table_only:
        payload = write_results(args, todo, stem)
        print(Path(f"{stem}.md").read_text())
        return 0
    args.root.mkdir(parents=True, exist_ok=True)
    args_d = {"root": str(args.root), "steps": args.steps, "eval_every": args.eval_every,
              "episode_steps": args.episode_steps, "eval_episodes": args.eval_episodes,
              "checkpoint_every": args.checkpoint_every, "extra": list(args.extra)}
    deadline = time.time() + args.max_hours * 3600
    pending_cells = [(a, s) for a, s in todo if cell_state(args.root, a, s)["status"] != "finished"]
    print(f"{len(todo)} cells, {len(todo) - len(pending_cells)} finished; training {len(pending_cells)} "
          f"({args.jobs} at a time) in {args.root}", flush=True)
    payload = write_results(args, todo, stem)
    with ProcessPoolExecutor(max_workers=max(1, args.jobs), mp_context=mp.get_context("spawn")) as pool:
        futures = {}
        while pending_cells or futures:
            while pending_cells and len(futures) < max(1, args.jobs) and time.time() < deadline:
                a, s = pending_cells.pop(0)
                futures[pool.submit(run_cell, a, s, args_d, deadline)] = (a, s)
            if not futures:
                break
            done, _ = wait(futures, return_when=FIRST_COMPLETED, timeout=600)
            for fut in done:
                futures.pop(fut)
                fut.result()
            payload = write_results(args, todo, stem)  # every 10 min and after every cell
    payload = write_results(args, todo, stem)
    print(Path(f"{stem}.md").read_text())
    print(f"wrote {stem}.json, {stem}.md and {payload['curves_png']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
