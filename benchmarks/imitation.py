#!/usr/bin/env python
"""The imitation ladder on the 14 play tasks (issue 18): rung a (per-task BC) and rung b (multi-task goal-conditioned
BC) on the tasks' scripted expert demos, and rung c (Play-GCBC: goal-conditioned BC on unsegmented play with
hindsight goals) and rung d (Play-LMP: the same with a latent plan inferred from play windows), all with the
imitation core's recipe (``skill_rl.play.ladder``).

    nice -n 15 python benchmarks/imitation.py --rungs a,b --seeds 3 --jobs 1       # the measured protocol (hours)
    nice -n 15 python benchmarks/imitation.py --rungs a --seeds 1 --episodes 20    # a quick pass to find hard tasks
    python benchmarks/imitation.py --debug                                          # smoke: seconds, temporary outputs

Protocol (every number is a flag; the JSON records them):

* demos: ``--demos`` successful scripted demos per task (``collect_task_demos``: starts of seed 1, DART noise of
  std ``--demo-noise`` (0.1) on the executed motion, the intended action recorded), written once to
  ``--demos-dir`` (default ``<out-dir>/demos``) as ``<task>.hdf5``;
* rung a: for each task and training seed, a ``BCPolicy`` on that task's demos, ``--steps`` AdamW steps of batch
  32 (the recipe's defaults; ``key=value`` overrides any ``BCRecipe`` field, e.g. ``history=4``), no goal input;
* rung b: for each training seed, one goal-conditioned ``BCPolicy`` on all tasks' demos (goal = each demo's final
  observation, through the play goal layout), ``--steps-b`` steps (default: ``--steps``);
* rung c: for each training seed, one goal-conditioned ``BCPolicy`` on the play file ``--play`` (``skill-rl play
  collect``; several files comma-separated, e.g. two collections with different ``seed``s: their episodes are
  pooled), each row's goal the observation ``k`` steps later in its play episode, ``k`` uniform in the recipe's
  ``hindsight`` (default ``[16, 150]``: the tasks take 40-160 steps), ``--steps-b`` steps;
* rung d: as rung c, plus a latent plan z (``latent_dim``, default 16): a recognition network reads windows of
  play of the ``hindsight`` lengths, the policy is trained on ``plan_steps`` of each window's steps given the
  window's z and end, and a KL (``kl_beta``) pulls the plan proposal Ψ(z | s, g) towards it; acting, z is Ψ's mean;
* evaluation: ``--episodes`` episodes per task from the tasks' evaluation starts (seed 0: never a demo start), the
  same for every seed and rung, ``--horizon`` steps, deterministic (the head's mode), success checked after every
  step (``skill_rl.play.tasks.rollout``).

Resumable: each (rung, task, seed) writes ``<out-dir>/results/<rung>/<task>_seed<k>.json`` when done and is skipped
when present; training checkpoints (``<out-dir>/runs/...``) resume an interrupted training. Results written with
another recipe are an error (use another ``--out-dir``). ``--jobs N`` runs N worker processes (1 torch thread
each). At the end (or with ``--aggregate``) all result files are collected into ``--results`` ``.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("OMP_NUM_THREADS", "1")

RESULTS = Path(__file__).parent / "results" / "imitation"


# ------------------------------------------------------------------------------------------------ pieces
def _recipe(args: argparse.Namespace) -> Any:
    import dataclasses

    import yaml

    from skill_rl.play.ladder import BCRecipe

    fields = {f.name for f in dataclasses.fields(BCRecipe)}
    over: dict[str, Any] = {"steps": args.steps}
    for item in args.overrides:
        key, sep, value = item.partition("=")
        if not sep or key not in fields:
            raise SystemExit(f"override {item!r}: expected key=value with key one of {', '.join(sorted(fields))}")
        over[key] = yaml.safe_load(value)
    return BCRecipe(**over)


def _tasks(args: argparse.Namespace) -> list[str]:
    from skill_rl.play.tasks import TASKS

    names = args.tasks.split(",") if args.tasks else list(TASKS)
    unknown = [n for n in names if n not in TASKS]
    if unknown:
        raise SystemExit(f"unknown task(s) {unknown}; known: {', '.join(TASKS)}")
    return names


def _demos_job(demos_dir: str, name: str, n: int, noise: float = 0.1) -> dict[str, Any]:
    from skill_rl.fileio import atomic_path
    from skill_rl.play.demos import collect_task_demos
    from skill_rl.play.tasks import TASKS

    path = Path(demos_dir) / f"{name}.hdf5"
    meta = path.with_suffix(".json")
    if path.is_file() and meta.is_file():
        done = json.loads(meta.read_text())
        done_noise = done.get("action_noise", 0.1)  # files written before the field existed: the old fixed 0.1
        if done_noise != noise:
            raise SystemExit(f"{path} holds demos of DART noise {done_noise}, not --demo-noise {noise}; use another "
                             "--demos-dir")
        if done["demos"] >= n:
            return done
    t0 = time.perf_counter()
    with atomic_path(path) as tmp:
        summary = collect_task_demos(TASKS[name], tmp, n, seed=1, action_noise=noise)
    summary.update(dataset=str(path), action_noise=noise, wall_s=round(time.perf_counter() - t0, 1),
                   code_rev=_git_rev())
    _write_json(meta, summary)
    return summary


def _episodes_job(out: str, name: str, n: int) -> str:
    """The task's evaluation episodes (seed 0 starts and their goal observations), computed once."""
    from skill_rl.play.tasks import TASKS, make_play_env, sample_episodes

    path = Path(out) / "episodes" / f"{name}.npz"
    if path.is_file() and len(np.load(path)["seeds"]) >= n:
        return str(path)
    env = make_play_env()
    eps = sample_episodes(TASKS[name], env, n, seed=0)
    env.close()
    from skill_rl.fileio import atomic_path

    with atomic_path(path) as tmp:
        np.savez(tmp, seeds=[e.seed for e in eps], goal_obs=np.stack([e.goal_obs for e in eps]),
                 start_obs=np.stack([e.start_obs for e in eps]), scripted_steps=[e.scripted_steps for e in eps])
    return str(path)


def _load_episodes(out: str, name: str, n: int) -> list[Any]:
    from skill_rl.play.tasks import TaskEpisode

    z = np.load(Path(out) / "episodes" / f"{name}.npz")
    return [TaskEpisode(name, int(s), g, st, int(k))
            for s, g, st, k in zip(z["seeds"][:n], z["goal_obs"][:n], z["start_obs"][:n], z["scripted_steps"][:n],
                                   strict=True)]


def _git_rev() -> str:
    """The checkout's commit (+ "-dirty" when the demonstrators or the ladder differ from it): demos depend on it."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "envs/tabletop", "skill_rl/play", "skill_rl/imitation"],
                               cwd=root, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("-dirty" if dirty else "")


def _write_json(path: Path, obj: Any) -> None:
    from skill_rl.fileio import atomic_write_json

    atomic_write_json(path, obj)


def _result_path(out: str, rung: str, name: str, seed: int) -> Path:
    return Path(out) / "results" / rung / f"{name}_seed{seed}.json"


def _evaluate(policy: Any, out: str, rung: str, name: str, seed: int, args: dict[str, Any], train: dict[str, Any],
              recipe: dict[str, Any]) -> dict[str, Any]:
    from skill_rl.play.ladder import evaluate_bc
    from skill_rl.play.tasks import TASKS, make_play_env

    env = make_play_env()
    t0 = time.perf_counter()
    res = evaluate_bc(policy, TASKS[name], _load_episodes(out, name, args["episodes"]), env, horizon=args["horizon"])
    env.close()
    res.update(rung=rung, task=name, seed=seed, eval_s=round(time.perf_counter() - t0, 1), train=train,
               recipe=recipe, horizon=args["horizon"])
    _write_json(_result_path(out, rung, name, seed), res)
    return res


def _rung_a_job(out: str, demos_dir: str, name: str, seed: int, recipe: dict[str, Any], args: dict[str, Any]
                ) -> dict[str, Any]:
    import torch

    from skill_rl.play.ladder import BCRecipe, train_bc

    torch.set_num_threads(1)
    run = Path(out) / "runs" / "a" / f"{name}_seed{seed}"
    policy, train = train_bc([Path(demos_dir) / f"{name}.hdf5"], BCRecipe(**recipe), seed=seed, goal=False,
                             ckpt_path=run / "ckpt.pt")
    policy.save(run / "policy.pt", meta={"rung": "a", "task": name, "seed": seed})
    return _evaluate(policy, out, "a", name, seed, args, train, recipe)


def _rung_b_job(out: str, demos_dir: str, train_names: list[str], names: list[str], seed: int,
                recipe: dict[str, Any], args: dict[str, Any]) -> list[dict[str, Any]]:
    """Train on ``train_names``' demos (all 14 tasks), evaluate on ``names``."""
    import torch

    from skill_rl.play.ladder import BCRecipe, train_bc

    torch.set_num_threads(1)
    run = Path(out) / "runs" / "b" / f"seed{seed}"
    policy, train = train_bc([Path(demos_dir) / f"{n}.hdf5" for n in train_names], BCRecipe(**recipe),
                             seed=seed, goal=True, ckpt_path=run / "ckpt.pt")
    policy.save(run / "policy.pt", meta={"rung": "b", "seed": seed})
    return [_evaluate(policy, out, "b", n, seed, args, train, recipe) for n in names
            if not _result_path(out, "b", n, seed).is_file()]


def _play_job(out: str, play: str, names: list[str], seed: int, recipe: dict[str, Any], args: dict[str, Any],
              rung: str = "c") -> list[dict[str, Any]]:
    """Rungs c and d: train on the play file with hindsight goals, evaluate on ``names`` as rung b."""
    import torch

    from skill_rl.play.ladder import BCRecipe, train_bc

    torch.set_num_threads(1)
    run = Path(out) / "runs" / rung / f"seed{seed}"
    policy, train = train_bc(play.split(","), BCRecipe(**recipe), seed=seed, goal=True, ckpt_path=run / "ckpt.pt")
    policy.save(run / "policy.pt", meta={"rung": rung, "seed": seed, "play": play})
    return [_evaluate(policy, out, rung, n, seed, args, train, recipe) for n in names
            if not _result_path(out, rung, n, seed).is_file()]


# ------------------------------------------------------------------------------------------------ aggregate
def _rung_summary(rows: list[dict[str, Any]], names: list[str], seeds: list[int]) -> dict[str, Any]:
    by = {(r["task"], r["seed"]): r for r in rows}
    per_task, missing = {}, []
    for n in names:
        vals = [by[(n, s)]["success_rate"] for s in seeds if (n, s) in by]
        missing += [f"{n}/seed{s}" for s in seeds if (n, s) not in by]
        if vals:
            per_task[n] = {"mean": float(np.mean(vals)), "per_seed": vals,
                           "reached": float(np.mean([by[(n, s)]["reached_rate"] for s in seeds if (n, s) in by])),
                           "moved": float(np.mean([by[(n, s)]["moved_rate"] for s in seeds if (n, s) in by]))}
    per_seed = [float(np.mean([by[(n, s)]["success_rate"] for n in names])) for s in seeds
                if all((n, s) in by for n in names)]
    trains = {}
    for r in rows:
        key = r["task"] if r["rung"] == "a" else f"seed{r['seed']}"  # b, c: one policy per seed
        trains.setdefault(key, {})[r["seed"]] = r["train"]
    wall = [t["elapsed_s"] for by_seed in trains.values() for t in by_seed.values()]
    one = next(iter(next(iter(trains.values())).values())) if trains else {}
    return {"mean": float(np.mean([v["mean"] for v in per_task.values()])) if per_task else None,
            "per_task": per_task, "per_seed_mean": per_seed, "complete": not missing, "missing": missing,
            "train_wall_s": {"per_run_mean": float(np.mean(wall)) if wall else None,
                             "per_run_min": min(wall) if wall else None, "per_run_max": max(wall) if wall else None,
                             "runs": len(wall)},
            "gradient_steps_per_run": one.get("steps"), "eval_s_total": float(sum(r["eval_s"] for r in rows)),
            "demos_per_run": one.get("demos"), "demo_steps_per_run": one.get("demo_steps") if rows and
            rows[0]["rung"] in ("b", "c", "d") else {t: next(iter(v.values()))["demo_steps"] for t, v in trains.items()}}


def aggregate(out: str, names: list[str], seeds: list[int], rungs: list[str], budget: dict[str, Any],
              results: Path, lifelong_check: str = "", diagnosis: list[str] | None = None) -> dict[str, Any]:
    keys = {"a": "bc_per_task_success", "b": "multitask_bc_success", "c": "play_gcbc_success",
            "d": "play_lmp_success"}
    doc: dict[str, Any] = {"issue": 18, "budget": budget, "machine": f"{platform.machine()}, {os.cpu_count()} cpus"}
    if lifelong_check:  # lifelong BC on the core vs before it: benchmarks/lifelong_single_task.py summaries
        lines = [json.loads(x) for x in Path(lifelong_check).read_text().splitlines() if x.strip()]
        doc["lifelong_single_task_check"] = [{k: r.get(k) for k in ("tag", "suite", "task", "epochs", "overrides",
                                                                     "rollouts", "max_steps", "best_mean",
                                                                     "last_mean", "runs")} for r in lines]
    if diagnosis:  # the diagnosis runs docs/play.md cites: NAME=FILE (JSON, or JSON lines), embedded as they are
        doc["diagnosis"] = {}
        for item in diagnosis:
            name, _, file = item.partition("=")
            text = Path(file).read_text()
            doc["diagnosis"][name] = (json.loads(text) if file.endswith(".json")
                                      else [json.loads(x) for x in text.splitlines() if x.strip()])
    for rung in rungs:
        rows = [json.loads(p.read_text()) for p in sorted((Path(out) / "results" / rung).glob("*_seed*.json"))]
        rows = [r for r in rows if r["task"] in names and r["seed"] in seeds]
        doc[keys[rung]] = _rung_summary(rows, names, seeds)
    _write_json(results.with_suffix(".json"), doc)
    from skill_rl.fileio import atomic_write_text

    atomic_write_text(results.with_suffix(".md"), _markdown(doc, names, seeds, rungs))
    return doc


def _markdown(doc: dict[str, Any], names: list[str], seeds: list[int], rungs: list[str]) -> str:
    b = doc["budget"]
    lines = ["# Imitation ladder on the 14 play tasks (issue 18)", "",
             f"Written by `benchmarks/imitation.py`. Demos per task: {b['demos']} (DART noise "
             f"{b.get('demo_noise', 0.1)}, intended action recorded, seed-1 starts); evaluation: {b['episodes']} episodes per task (seed-0 starts, never a demo's), "
             f"horizon {b['horizon']}, deterministic, success checked every step; training seeds {seeds}; recipe: "
             f"`{json.dumps(b['recipe'])}`.", ""]
    def goals(rc: dict[str, Any]) -> str:
        away = f" once the arm is over {rc['rest_away']} m from what moved" if rc.get("rest_away") else ""
        before = rc.get("rest_before_approach", "keep")
        lead = {"keep": "", "stay": "; rows before the arm's approach to what moves next keep their own frame",
                "drop": "; rows before the arm's approach to what moves next are dropped",
                "far": f"; rows over {rc.get('rest_approach_far')} m from what moves next and not "
                       f"{rc.get('rest_approach_slack')} m closer to it within {rc.get('rest_approach_steps')} steps "
                       "keep their own frame"}[before]
        lift = (f"; a lift over {rc['rest_lift_rise']} m that puts its object back within {rc.get('rest_lift_back')} m "
                "gives its rows before the highest frame that frame" if rc.get("rest_lift_rise") else "")
        return (f"rest goals: the next frame where the goal features come to rest{away}, + {rc.get('rest_after')}; "
                f"the first {rc.get('rest_stay')} rows of each rest keep it as their goal{lead}{lift}"
                if rc.get("relabel") == "rest" else f"hindsight goals {rc.get('hindsight')} steps ahead")

    rd = b.get("recipe_d", {})
    windows_d = (f"windows from each row to its {goals(rd)}, at most {rd.get('hindsight')[1]} steps"
                 if rd.get("relabel") == "rest" else f"windows of {rd.get('hindsight')} steps")
    titles = {"a": ("bc_per_task_success", "Rung a: per-task BC (one policy per task and seed, no goal input)"),
              "b": ("multitask_bc_success", "Rung b: one multi-task goal-conditioned BC policy per seed"),
              "c": ("play_gcbc_success", "Rung c: Play-GCBC, one goal-conditioned policy per seed on play "
                    f"(`{b.get('play', '')}`, {goals(b.get('recipe_c', {}))})"),
              "d": ("play_lmp_success", "Rung d: Play-LMP, one latent-plan policy per seed on the same play "
                    f"({windows_d}, plan size {rd.get('latent_dim')})")}
    for rung in rungs:
        key, title = titles[rung]
        r = doc[key]
        lines += [f"## {title}: `{key}` = {100 * r['mean']:.1f}%" if r["mean"] is not None else f"## {title}", ""]
        if not r["complete"]:
            lines += [f"Incomplete: missing {', '.join(r['missing'])}.", ""]
        lines += ["| task | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | reached | moved |",
                  "|---|" + "---:|" * (len(seeds) + 3)]
        for n in names:
            t = r["per_task"].get(n)
            if t is None:
                continue
            cells = [f"{100 * v:.0f}" for v in t["per_seed"]] + [""] * (len(seeds) - len(t["per_seed"]))
            lines.append(f"| {n} | " + " | ".join(cells) + f" | **{100 * t['mean']:.1f}** | {100 * t['reached']:.0f} | "
                         f"{100 * t['moved']:.0f} |")
        ps = r["per_seed_mean"]
        lines += ["| **mean** | " + " | ".join(f"{100 * v:.1f}" for v in ps) + " | " * (len(seeds) - len(ps))
                  + f" | **{100 * r['mean']:.1f}** | | |" if r["mean"] is not None else "", ""]
        w = r["train_wall_s"]
        lines += [f"Training wall-clock per run: mean {w['per_run_mean']:.0f} s (min {w['per_run_min']:.0f}, "
                  f"max {w['per_run_max']:.0f}) over {w['runs']} runs of {r['gradient_steps_per_run']} gradient steps "
                  f"(batch {b['recipe']['batch_size']}); evaluation {r['eval_s_total']:.0f} s in all. "
                  f"Success in percent; *reached*/*moved*: the gripper came within 5 cm of the task's object "
                  f"(handle) / the object moved > 1 cm, mean over seeds.", ""]
    for r in doc.get("lifelong_single_task_check", []):
        per_seed = ", ".join(f"{100 * x['last']:.0f}%" for x in r["runs"])
        lines += [f"Lifelong single-task BC check (`benchmarks/lifelong_single_task.py`, {r['suite']} task {r['task']}, "
                  f"{r['epochs']} epochs, {r['rollouts']} rollouts, {r['overrides']}): `{r['tag']}` final success "
                  f"{100 * r['last_mean']:.0f}% (per seed {per_seed}).", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ main
def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rungs", default="a,b", help="comma-separated rungs: a, b, c, d")
    p.add_argument("--play", default="", help="rungs c, d: the play HDF5 (skill-rl play collect) "
                   "to train on; several comma-separated are pooled")
    p.add_argument("--tasks", default="", help="comma-separated task names (default: all 14)")
    p.add_argument("--seeds", type=int, default=3, help="training seeds 0..n-1")
    p.add_argument("--first-seed", type=int, default=0, help="train seeds first..first+n-1 instead (split a run's "
                   "seeds over processes or sittings; aggregate in one --out-dir with --seeds n)")
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--horizon", type=int, default=200)
    p.add_argument("--demos", type=int, default=100, help="demos per task")
    p.add_argument("--demo-noise", type=float, default=0.1, help="DART noise std of the demos' executed motion")
    p.add_argument("--steps", type=int, default=20000, help="gradient steps per rung-a policy")
    p.add_argument("--steps-b", type=int, default=0, help="gradient steps of the rung-b and rung-c policies "
                   "(0: --steps)")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--out-dir", default="runs/imitation", help="demos, checkpoints, policies, per-run results")
    p.add_argument("--demos-dir", default="", help="demo files (default <out-dir>/demos); shared by passes")
    p.add_argument("--results", default=str(RESULTS), help="results file stem (.json and .md are written)")
    p.add_argument("--aggregate", action="store_true", help="only collect the finished runs into --results")
    p.add_argument("--diagnosis", action="append", default=[], metavar="NAME=FILE",
                   help="embed a diagnosis file (JSON or JSON lines) under 'diagnosis' in the results (repeatable)")
    p.add_argument("--lifelong-check", default="", help="a lifelong_single_task.py --out file to include (the "
                   "lifelong BC regression check of the core)")
    p.add_argument("--debug", action="store_true", help="smoke: 2 tasks, 3 demos, 30 steps, 2 episodes, temp dirs")
    p.add_argument("overrides", nargs="*", help="BCRecipe fields as key=value, e.g. history=4 head=gmm")
    args = p.parse_args()
    tmp = None
    if args.debug:
        tmp = tempfile.mkdtemp(prefix="imitation-debug-")
        args.tasks = args.tasks or "push_red_left,close_drawer"
        args.seeds, args.episodes, args.demos, args.steps, args.horizon = 1, 2, 3, 30, 60
        args.out_dir, args.results = tmp + "/out", tmp + "/imitation"
        args.overrides = [*args.overrides, "hidden=32"]
    rungs = args.rungs.split(",")
    if not set(rungs) <= {"a", "b", "c", "d"}:
        raise SystemExit(f"--rungs must name a, b, c and/or d, got {args.rungs!r}")
    if {"c", "d"} & set(rungs) and not args.play:
        if not args.debug:
            raise SystemExit("rungs c and d need --play <play.hdf5> (skill-rl play collect)")
        from skill_rl.play.collect import PlayCollectConfig, collect_play

        args.play = collect_play(PlayCollectConfig(debug=True, run_root=tmp), progress=False)["dataset"]
    if {"c", "d"} & set(rungs) and not args.aggregate:
        if missing := [f for f in args.play.split(",") if not Path(f).is_file()]:
            raise SystemExit(f"--play: no such file: {', '.join(missing)}")
    names, recipe = _tasks(args), _recipe(args)
    recipe_b = {**recipe.to_dict(), "steps": args.steps_b or args.steps, "latent_dim": 0,
                "prior_rows": 0.0}  # no plan below rung d
    recipe_c = {**recipe_b, "hindsight": recipe.hindsight or [16, 150]}
    recipe_d = {**recipe_c, "latent_dim": recipe.latent_dim or 16, "prior_rows": recipe.prior_rows}
    seeds = list(range(args.seeds)) if args.aggregate else list(range(args.first_seed, args.first_seed + args.seeds))
    run_args = {"episodes": args.episodes, "horizon": args.horizon}
    budget = {"demos": args.demos, "demo_noise": args.demo_noise, "episodes": args.episodes, "horizon": args.horizon,
              "recipe": recipe.to_dict(), "steps_b": recipe_b["steps"], "tasks": names, "code_rev": _git_rev()}
    if "c" in rungs:
        budget.update(play=args.play, recipe_c=recipe_c)
    if "d" in rungs:
        budget.update(play=args.play, recipe_d=recipe_d)
    out = args.out_dir
    demos_dir = args.demos_dir or str(Path(out) / "demos")
    budget["demos_dir"] = demos_dir
    # never mix recipes in one folder (a field added to BCRecipe since a result was written: its default then)
    defaults = type(recipe)().to_dict()
    for rung, rec in (("a", recipe.to_dict()), ("b", recipe_b), ("c", recipe_c), ("d", recipe_d)):
        for f in (Path(out) / "results" / rung).glob("*.json") if rung in rungs else []:
            if {**defaults, **json.loads(f.read_text())["recipe"]} != rec:
                raise SystemExit(f"{f} was made with another recipe; use another --out-dir")
    t0 = time.perf_counter()
    if not args.aggregate:
        from skill_rl.play.tasks import TASKS

        # rung b trains on every task's demos (the debug smoke: on its tasks only)
        demo_tasks = names if args.debug or "b" not in rungs else list(dict.fromkeys([*TASKS, *names]))
        if not {"a", "b"} & set(rungs):  # rungs c and d train on play, no demos
            demo_tasks = []
        with ProcessPoolExecutor(max_workers=max(1, args.jobs), mp_context=multiprocessing.get_context("spawn")) as pool:
            futs = [pool.submit(_demos_job, demos_dir, n, args.demos, args.demo_noise) for n in demo_tasks]
            futs += [pool.submit(_episodes_job, out, n, args.episodes) for n in names]
            for f in futs:
                f.result()
            print(f"demos and episodes ready ({time.perf_counter() - t0:.0f} s)", flush=True)
            jobs = []
            if "a" in rungs:
                jobs += [pool.submit(_rung_a_job, out, demos_dir, n, s, recipe.to_dict(), run_args) for s in seeds for n in names
                         if not _result_path(out, "a", n, s).is_file()]
            if "b" in rungs:
                train_names = names if args.debug else list(TASKS)
                jobs += [pool.submit(_rung_b_job, out, demos_dir, train_names, names, s, recipe_b, run_args) for s in seeds
                         if not all(_result_path(out, "b", n, s).is_file() for n in names)]
            for rung, rec in (("c", recipe_c), ("d", recipe_d)):
                if rung in rungs:
                    jobs += [pool.submit(_play_job, out, args.play, names, s, rec, run_args, rung) for s in seeds
                             if not all(_result_path(out, rung, n, s).is_file() for n in names)]
            for f in jobs:
                res = f.result()
                for r in res if isinstance(res, list) else [res]:
                    print(json.dumps({k: r[k] for k in ("rung", "task", "seed", "success_rate", "eval_s")}
                                     | {"train_s": r["train"]["elapsed_s"]}), flush=True)
    doc = aggregate(out, names, seeds, rungs, budget, Path(args.results), args.lifelong_check, args.diagnosis)
    for key in ("bc_per_task_success", "multitask_bc_success", "play_gcbc_success", "play_lmp_success"):
        if key in doc:
            print(f"{key}: {doc[key]['mean']}", flush=True)
    print(f"wall {time.perf_counter() - t0:.0f} s; results {args.results}.json/.md", flush=True)
    if tmp is not None:
        print(Path(args.results).with_suffix(".md").read_text())
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
