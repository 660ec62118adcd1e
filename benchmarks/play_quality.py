#!/usr/bin/env python
"""Play-LMP vs Play-GCBC vs per-task BC on the named play tasks: same data and update budget, 3 seeds, plain and perturbed.

    nice -n 10 python benchmarks/play_quality.py --worker-sessions      # defaults below (hours on 2 free cores)
    nice -n 10 python benchmarks/play_quality.py --quick                # minutes: 1 seed, 200 steps, 2 episodes
    python benchmarks/play_quality.py --debug --out /tmp/pq.json        # smoke (seconds): 2 tasks, 20 steps, in-process
    python benchmarks/play_quality.py --merge a.json b.json --out c.json  # combine runs made by separate processes

Protocol (every number below is a flag; the JSON records them):

* data: ``--hours`` of scripted play collected by ``skill_rl.play.collect`` with its defaults (or ``--dataset``);
  Play-LMP and Play-GCBC train on the same file. Per-task BC: ``--bc-demos`` noisy scripted expert demos of each
  task (``skill_rl.play.demos``, starts disjoint from the evaluation's; or ``--demos-dir``).
* training: ``skill_rl.play.train.train_play`` with the ``configs/lmp.yaml`` model for ``--steps`` gradient steps,
  algo lmp (``--beta``) and gcbc; BC = the gcbc model with ``goal="end"`` on one task's demos for ``--bc-steps``
  (default steps / number of tasks: the 14 single-task policies together get one play policy's update budget);
  seeds ``--seeds``; ``torch.set_num_threads(1)``; ``--jobs`` (method, seed) runs in parallel worker processes
  (``--worker-sessions``: each in its own session, i.e. its own CPU share under autogroup scheduling); wall-clock
  per run recorded.
* evaluation: every task of ``skill_rl.play.tasks.TASKS`` (or ``--tasks``), ``--episodes`` per task, the *same*
  starts and goal observations for every policy and seed, ``--horizon`` steps, deterministic (proposal mean,
  mixture mode), re-planning every 20 steps (1 s); then again with the start perturbed: the gripper is first
  moved ``--perturb-m`` metres in a random direction (kept over the table, 15-30 cm high). The paper perturbs by
  0.4 m; our reachable table is 0.28 m x 0.44 m, so 0.15 m is the default here. A BC policy is evaluated on its
  own task only.
* reported: per task and average success per method and condition (mean over seeds, and each seed's average),
  the LMP - GCBC gap, the drop under perturbation, train NLL/KL first -> final, wall-clock.

The paper's claim is LMP >= GCBC + 5 points average success, and LMP more robust to perturbation (and both above
per-task BC); this script reports what it measures, as is.

Writes ``benchmarks/results/play_quality.json`` (atomically, after every run, ``"complete": false`` until the
end) and a markdown table ``benchmarks/results/play_quality.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("MUJOCO_GL", "osmesa")

RESULTS = Path(__file__).parent / "results"


def _train_cfg(args, **kw):
    """The configs/lmp.yaml model (PlayTrainConfig defaults) with this benchmark's budget."""
    from skill_rl.play.train import PlayTrainConfig

    return PlayTrainConfig(batch_size=args.batch_size, beta=args.beta, threads=1, device=args.device, progress=False,
                           **kw)


def _evaluate(args, label, policies_by_task, tasks, episode_sets) -> dict:
    """{cond: {"per_task", "average", "progress_per_task", "average_progress", "wall_s"}} for one run.
    ``policies_by_task``: task name -> policy (the same object for Play-LMP / Play-GCBC, one per task for BC)."""
    from skill_rl.play.evaluate import evaluate_policies

    out = {}
    for cond, perturb in (("plain", 0.0), ("perturbed", args.perturb_m)):
        per_task, prog, wall = {}, {}, 0.0
        for task in tasks:
            r = evaluate_policies({label: policies_by_task[task.name]}, [task], episodes=args.episodes, seed=0,
                                  horizon=args.horizon, perturb_m=perturb, episode_sets=episode_sets)
            per_task[task.name] = r["per_task"][label][task.name]
            prog[task.name] = r["progress"][label][task.name]
            wall += r["wall_s"]
        out[cond] = {"per_task": per_task, "average": float(np.mean(list(per_task.values()))),
                     "progress_per_task": prog, "average_progress": float(np.mean(list(prog.values()))),
                     "wall_s": round(wall, 1)}
    return out


def run_job(job: dict) -> dict:
    """Train + evaluate one (method, seed); runs in a worker process (spawned: nothing shared but ``job``)."""
    import torch

    from skill_rl.play.policy import LatentPlanPolicy
    from skill_rl.play.tasks import TASKS
    from skill_rl.play.train import train_play

    torch.set_num_threads(1)
    args, method, seed = job["args"], job["method"], job["seed"]
    if args.worker_sessions and hasattr(os, "setsid"):
        try:  # own session = own autogroup: with autogroup scheduling, workers would otherwise share one CPU share
            os.setsid()
        except OSError:
            pass
    tasks = [TASKS[t] for t in job["tasks"]]
    key = f"{method}_seed{seed}"
    common = dict(seed=seed, run_root=job["run_root"])
    t0 = time.perf_counter()
    if method in ("lmp", "gcbc"):
        s = train_play(_train_cfg(args, algo=method, dataset=job["dataset"], steps=args.steps,
                                  log_every=max(args.steps // 20, 1), ckpt_every=args.steps, run_name=key, **common))
        train = {"wall_s": s["elapsed_s"], "steps": args.steps, "steps_per_s": s["steps_per_s"], "first": s["first"],
                 "final": s["final"], "parameters": s["parameters"], "policy": s["policy"]}
        policy = LatentPlanPolicy.load(s["policy"], deterministic=True, replan_every=20)
        policies = {t.name: policy for t in tasks}
    else:  # per-task BC: the Play-GCBC model on one task's expert demos, goal = the demo's final observation
        policies, train = {}, {"wall_s": 0.0, "steps": 0, "per_task": {}}
        for task in tasks:
            s = train_play(_train_cfg(args, algo="gcbc", dataset=job["demos"][task.name], goal="end",
                                      goal_horizon=0, steps=args.bc_steps, log_every=max(args.bc_steps // 10, 1),
                                      ckpt_every=args.bc_steps, run_name=f"{key}_{task.name}", **common))
            policies[task.name] = LatentPlanPolicy.load(s["policy"], deterministic=True, replan_every=20)
            train["wall_s"] += s["elapsed_s"]
            train["steps"] += args.bc_steps
            train["per_task"][task.name] = {"wall_s": s["elapsed_s"], "first": s["first"], "final": s["final"]}
        train["wall_s"] = round(train["wall_s"], 1)
        train["parameters_per_policy"] = s["parameters"]
    ev = _evaluate(args, key, policies, tasks, job["episode_sets"])
    return {"key": key, "method": method, "seed": seed, "train": train, "eval": ev,
            "job_wall_s": round(time.perf_counter() - t0, 1)}


def _sample_std(values: list[float]) -> float:
    """Sample std (ddof=1) over seeds: with 3 seeds the population std understates the spread by ~18%."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def aggregate(result: dict, methods: list[str], seeds: list[int], task_names: list[str], episodes: int) -> str:
    """Fill ``result`` with the over-seed summary, the LMP - GCBC gaps and the tables; return the markdown."""
    from skill_rl.play.evaluate import markdown_table

    summary: dict = {}
    for cond, runs in result["eval"].items():
        for algo in methods:
            keys = sorted(k for k in runs if k.startswith(algo + "_seed"))
            if not keys:
                continue
            avgs = [runs[k]["average"] for k in keys]
            progs = [runs[k]["average_progress"] for k in keys]
            summary.setdefault(cond, {})[algo] = {
                "average": float(np.mean(avgs)), "std_over_seeds": _sample_std(avgs), "per_seed": avgs,
                "average_progress": float(np.mean(progs)), "progress_per_seed": progs,
                "per_task": {t: float(np.mean([runs[k]["per_task"][t] for k in keys])) for t in task_names},
                "per_task_progress": {t: float(np.mean([runs[k]["progress_per_task"][t] for k in keys]))
                                      for t in task_names}}
    result["summary"] = summary
    if all(a in summary.get("plain", {}) for a in ("lmp", "gcbc")):
        gap = {c: 100 * (summary[c]["lmp"]["average"] - summary[c]["gcbc"]["average"]) for c in summary}
        result["lmp_minus_gcbc_points"] = gap
        result["lmp_minus_gcbc_progress"] = {c: summary[c]["lmp"]["average_progress"]
                                             - summary[c]["gcbc"]["average_progress"] for c in summary}
    drop = {a: 100 * (summary["plain"][a]["average"] - summary["perturbed"][a]["average"]) for a in summary["plain"]}
    result["drop_under_perturbation_points"] = drop
    if "lmp_minus_gcbc_points" in result:
        result["paper_target_met"] = {"lmp_at_least_gcbc_plus_5": result["lmp_minus_gcbc_points"]["plain"] >= 5.0,
                                      "lmp_more_robust": drop["lmp"] < drop["gcbc"]}
    result["train_wall_s"] = {a: statistics.mean(v["wall_s"] for k, v in result["train"].items()
                                                 if k.startswith(a + "_seed")) for a in methods}
    names = {"lmp": "Play-LMP", "gcbc": "Play-GCBC", "bc": "BC"}
    cols = [(c, a) for c in ("plain", "perturbed") for a in methods if a in summary.get(c, {})]
    n_seeds = f"episodes x {len(seeds)} seeds"
    table = {f"{names.get(a, a)} ({c})": summary[c][a]["per_task"] for c, a in cols}
    prog = {f"{names.get(a, a)} ({c})": summary[c][a]["per_task_progress"] for c, a in cols}
    seeds_md = ["| method | condition | average success per seed (%) | mean | sample std |", "|---|---|---|---:|---:|"]
    for c, a in cols:
        v = summary[c][a]
        seeds_md.append(f"| {names.get(a, a)} | {c} | " + ", ".join(f"{100 * x:.1f}" for x in v["per_seed"])
                        + f" | {100 * v['average']:.1f} | {100 * v['std_over_seeds']:.1f} |")
    md = ("Success rate (%; BC = per-task BC on scripted expert demos, one policy per task):\n\n"
          + markdown_table(table, episodes).replace("episodes each", n_seeds)
          + "\nPer seed:\n\n" + "\n".join(seeds_md) + "\n"
          + "\nGoal progress (%, 100 = at the goal, 0 = no closer than at the start):\n\n"
          + markdown_table(prog, episodes).replace("episodes each", n_seeds))
    result["table_markdown"] = md
    return md


def merge(paths: list[str], out_path: Path) -> None:
    """Combine the runs of several result JSONs (e.g. methods run as separate processes) into ``out_path``."""
    from skill_rl.fileio import atomic_write_text

    parts = [json.loads(Path(p).read_text()) for p in paths]
    result = dict(parts[0])
    result["train"], result["eval"] = {}, {}
    for part in parts:
        result["train"].update(part["train"])
        for cond, runs in part["eval"].items():
            result["eval"].setdefault(cond, {}).update(runs)
    budget = result["budget"]
    methods = [m for m in ("lmp", "gcbc", "bc") if any(k.startswith(m + "_seed") for k in result["train"])]
    budget["methods"] = methods
    result["merged_from"] = {p: {"wall_s_total": q.get("wall_s_total"), "methods": sorted(
        {k.split("_seed")[0] for k in q["train"]}), "time_utc": q.get("time_utc")} for p, q in zip(paths, parts,
                                                                                                    strict=True)}
    result["wall_s_total"] = max(q.get("wall_s_total", 0.0) for q in parts)
    md = aggregate(result, methods, budget["seeds"], budget["tasks"], budget["episodes_per_task"])
    result["complete"] = all(f"{m}_seed{sd}" in result["train"] for m in methods for sd in budget["seeds"])
    atomic_write_text(out_path, json.dumps(result, indent=2) + "\n")
    atomic_write_text(out_path.with_suffix(".md"), md)
    print(md)
    print(f"wrote {out_path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 seed, 200 steps, 2 episodes, 0.05 h of play, 5 demos")
    ap.add_argument("--debug", action="store_true",
                    help="smoke run: 1 seed, 2 tasks, 20 steps, 1 episode of 20 steps, 200 steps of play, 2 demos, 1 job")
    ap.add_argument("--dataset", default="", help="play HDF5 (default: collect --hours of play)")
    ap.add_argument("--hours", type=float, default=4.0)
    ap.add_argument("--action-noise", type=float, default=None,
                    help="player action noise std for collected play and demos (default: PlayCollectConfig's)")
    ap.add_argument("--steps", type=int, default=8000, help="gradient steps per Play-LMP / Play-GCBC run")
    ap.add_argument("--bc-steps", type=int, default=0,
                    help="gradient steps per task for per-task BC (default: steps / number of tasks, so the 14 "
                         "single-task policies together get the same update budget as one play policy)")
    ap.add_argument("--bc-demos", type=int, default=100, help="scripted expert demos per task (the paper: 100)")
    ap.add_argument("--demos-dir", default="", help="reuse <task>.hdf5 demo files written by an earlier run "
                    "(same --bc-demos and --action-noise) instead of collecting them")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--beta", type=float, default=0.01)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--methods", "--algos", nargs="+", default=["lmp", "gcbc", "bc"], dest="methods")
    ap.add_argument("--tasks", nargs="+", default=[], help="task names (default: all of skill_rl.play.tasks.TASKS)")
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--horizon", type=int, default=200)
    ap.add_argument("--perturb-m", type=float, default=0.15)
    ap.add_argument("--jobs", type=int, default=3, help="(method, seed) runs in parallel worker processes")
    ap.add_argument("--worker-sessions", action="store_true",
                    help="each worker process starts its own session (Linux autogroup scheduling gives every session "
                         "an equal CPU share; without this all --jobs workers share the launching session's)")
    ap.add_argument("--device", default="cpu", help="training device (cpu | cuda); evaluation runs on cpu")
    ap.add_argument("--run-root", default="", help="where data and training runs go (default: a temp dir)")
    ap.add_argument("--out", default=str(RESULTS / "play_quality.json"))
    ap.add_argument("--merge", nargs="+", default=[], metavar="JSON",
                    help="only combine these result files (runs of the same budget) into --out")
    args = ap.parse_args()
    if args.merge:
        merge(args.merge, Path(args.out))
        return
    if args.quick:
        args.seeds, args.steps, args.episodes, args.hours, args.bc_demos = args.seeds[:1], 200, 2, 0.05, 5
    if args.debug:
        args.seeds, args.steps, args.episodes, args.horizon, args.hours = args.seeds[:1], 20, 1, 20, 200 / (3600 * 20)
        args.bc_demos, args.jobs, args.dataset, args.demos_dir = 2, 1, "", ""
        args.tasks = args.tasks[:2] or ["push_red_left", "close_drawer"]

    import torch

    from skill_rl.fileio import atomic_write_text
    from skill_rl.play.collect import PlayCollectConfig, collect_play
    from skill_rl.play.demos import collect_task_demos
    from skill_rl.play.tasks import TASKS, make_play_env, sample_episodes

    torch.set_num_threads(1)
    t_start = time.perf_counter()
    tmp = tempfile.TemporaryDirectory()
    run_root = args.run_root or tmp.name
    out_path = Path(args.out)
    task_names = args.tasks or list(TASKS)
    args.bc_steps = args.bc_steps or max(1, args.steps // len(task_names))
    noise = PlayCollectConfig().action_noise if args.action_noise is None else args.action_noise
    defaults = _train_cfg(args, algo="lmp")
    result: dict = {
        "benchmark": "play_quality", "complete": False, "debug": args.debug,
        "budget": {"hours_of_play": args.hours, "action_noise": noise, "steps": args.steps,
                   "batch_size": args.batch_size, "windows_seen": args.steps * args.batch_size, "beta": args.beta,
                   "bc_demos_per_task": args.bc_demos, "bc_steps_per_task": args.bc_steps,
                   "bc_windows_seen_total": args.bc_steps * len(task_names) * args.batch_size,
                   "seeds": args.seeds, "methods": args.methods, "episodes_per_task": args.episodes,
                   "horizon": args.horizon, "perturb_m": args.perturb_m, "tasks": task_names, "replan_every": 20,
                   "deterministic": True, "torch_threads": 1, "jobs": args.jobs, "device": args.device},
        "model": {k: getattr(defaults, k) for k in ("window", "min_window", "goal", "goal_horizon", "goal_keys",
                                                    "latent_dim", "hidden", "layers", "rnn_hidden", "head", "n_mix",
                                                    "lr", "nll_beta", "ignore_obs_keys")},
        "machine": {"python": sys.version.split()[0], "torch": torch.__version__, "platform": platform.platform(),
                    "cpus": os.cpu_count(), "loadavg_1m_at_start": os.getloadavg()[0]},
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "train": {}, "eval": {},
    }

    def save() -> None:
        result["wall_s_total"] = round(time.perf_counter() - t_start, 1)
        result["loadavg_1m_now"] = os.getloadavg()[0]
        atomic_write_text(out_path, json.dumps(result, indent=2) + "\n")

    # ---- data: play for Play-LMP / Play-GCBC, scripted expert demos for per-task BC (disjoint seeds)
    t0 = time.perf_counter()
    dataset = args.dataset or collect_play(PlayCollectConfig(hours_of_play=args.hours, action_noise=noise,
                                                             run_root=run_root, run_name="play-data"),
                                           progress=False)["dataset"]
    result["data"] = {"dataset": str(dataset), "collect_wall_s": round(time.perf_counter() - t0, 1)}
    print(f"data: {dataset} ({result['data']['collect_wall_s']} s)", flush=True)
    demos: dict[str, str] = {}
    if "bc" in args.methods:
        t0 = time.perf_counter()
        demo_dir = Path(run_root) / "demos"
        demo_dir.mkdir(parents=True, exist_ok=True)
        stats = {}
        for name in task_names:
            if args.demos_dir:
                from skill_rl.play.dataset import read_play_dataset

                path = Path(args.demos_dir) / f"{name}.hdf5"
                data = read_play_dataset(path, load_states=False)
                if len(data.demo_names) != args.bc_demos or data.env_args.get("action_noise") != noise:
                    raise SystemExit(f"{path}: {len(data.demo_names)} demos with noise "
                                     f"{data.env_args.get('action_noise')}, expected {args.bc_demos} with {noise}")
                d = {"dataset": str(path), "demos": len(data.demo_names), "steps": int(data.actions.shape[0])}
            else:
                d = collect_task_demos(TASKS[name], demo_dir / f"{name}.hdf5", args.bc_demos, seed=1,
                                       action_noise=noise)
            demos[name], stats[name] = d["dataset"], {"demos": d["demos"], "steps": d["steps"]}
        result["demos"] = {"per_task": stats, "total_steps": sum(v["steps"] for v in stats.values()),
                           "hours": sum(v["steps"] for v in stats.values()) / 20 / 3600,
                           "collect_wall_s": round(time.perf_counter() - t0, 1)}
        print(f"demos: {result['demos']['total_steps']} steps ({result['demos']['hours']:.2f} h) in "
              f"{result['demos']['collect_wall_s']} s", flush=True)

    # ---- shared evaluation episodes (same starts and goals for every policy; seed 0, disjoint from demos)
    t0 = time.perf_counter()
    env = make_play_env()
    episode_sets = {n: sample_episodes(TASKS[n], env, args.episodes, seed=0) for n in task_names}
    env.close()
    result["eval_episodes_wall_s"] = round(time.perf_counter() - t0, 1)
    save()

    # ---- train + evaluate every (method, seed); results land in the JSON as each finishes
    jobs = [{"args": args, "method": m, "seed": sd, "tasks": task_names, "dataset": str(dataset), "demos": demos,
             "episode_sets": episode_sets, "run_root": run_root} for m in args.methods for sd in args.seeds]

    def record(r: dict) -> None:
        result["train"][r["key"]] = r["train"]
        for cond, v in r["eval"].items():
            result["eval"].setdefault(cond, {})[r["key"]] = v
        tr = r["train"]
        nll = (f", nll {tr['first']['nll']:.2f} -> {tr['final']['nll']:.2f}, kl {tr['first']['kl']:.2f} -> "
               f"{tr['final']['kl']:.2f}") if "first" in tr else ""
        print(f"{r['key']}: trained {tr['steps']} steps in {tr['wall_s']:.0f} s{nll}; success plain "
              f"{r['eval']['plain']['average']:.1%}, perturbed {r['eval']['perturbed']['average']:.1%} "
              f"(job {r['job_wall_s']:.0f} s)", flush=True)
        save()

    if args.jobs > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=args.jobs, mp_context=mp.get_context("spawn")) as pool:
            for fut in as_completed([pool.submit(run_job, j) for j in jobs]):
                record(fut.result())
    else:
        for j in jobs:
            record(run_job(j))

    md = aggregate(result, args.methods, args.seeds, task_names, args.episodes)
    result["complete"] = True
    save()
    atomic_write_text(out_path.with_suffix(".md"), md)
    print(md)
    print(json.dumps({k: result.get(k) for k in ("lmp_minus_gcbc_points", "lmp_minus_gcbc_progress",
                                                 "drop_under_perturbation_points", "train_wall_s",
                                                 "wall_s_total")}, indent=2))
    print(f"wrote {out_path}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
