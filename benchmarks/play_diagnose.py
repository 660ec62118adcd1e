#!/usr/bin/env python
"""Diagnosis helper: train one play policy with config overrides and evaluate it on a few named tasks.

    nice -n 10 python benchmarks/play_diagnose.py --dataset <play.hdf5> --tag C --over algo=gcbc steps=4000 \
        goal=future goal_horizon=150 goal_keys=cube_red_pos,cube_red_quat,...
    nice -n 10 python benchmarks/play_diagnose.py --policy <policy.pt> --tag C_sto --sto   # evaluate only

Overrides are ``PlayTrainConfig`` fields (lists comma-separated). Evaluation: deterministic (unless ``--sto``),
``--episodes`` per task on the same starts and goals as ``play_quality.py`` (seed 0), ``--horizon`` steps.
Appends one JSON line per run to ``--results``; the runs in ``benchmarks/results/play_diagnosis.json`` were
made with it (see docs/play.md).
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("MUJOCO_GL", "osmesa")

DEFAULT_TASKS = ["push_red_left", "push_blue_right", "lift_red", "red_in_region", "open_drawer", "close_drawer"]


def main() -> None:
    import torch

    from skill_rl.play.evaluate import evaluate_policies
    from skill_rl.play.policy import LatentPlanPolicy
    from skill_rl.play.tasks import TASKS, make_task_env, sample_episodes
    from skill_rl.play.train import PlayTrainConfig, train_play

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="")
    ap.add_argument("--tag", default="run")
    ap.add_argument("--over", nargs="*", default=[], help="PlayTrainConfig overrides key=value")
    ap.add_argument("--tasks", nargs="*", default=DEFAULT_TASKS)
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--horizon", type=int, default=200)
    ap.add_argument("--policy", default="", help="evaluate this policy.pt instead of training one")
    ap.add_argument("--replan", type=int, default=20)
    ap.add_argument("--sto", action="store_true", help="sample plans and actions instead of mean / mode")
    ap.add_argument("--run-root", default="/tmp/play_diag_runs")
    ap.add_argument("--results", default="/tmp/play_diagnosis.jsonl")
    a = ap.parse_args()
    torch.set_num_threads(1)
    defaults = PlayTrainConfig()
    kw: dict = {}
    for o in a.over:
        k, v = o.split("=", 1)
        d = getattr(defaults, k)
        kw[k] = v.split(",") if isinstance(d, list) else (v == "true" if isinstance(d, bool) else type(d)(v))
    t0 = time.time()
    s: dict = {}
    if a.policy:
        pol_path = a.policy
    else:
        s = train_play(PlayTrainConfig(dataset=a.dataset, threads=1, progress=False, run_root=a.run_root,
                                       run_name=a.tag, ckpt_every=10**9, **kw))
        pol_path = s["policy"]
    train_s = time.time() - t0
    pol = LatentPlanPolicy.load(pol_path, deterministic=not a.sto, replan_every=a.replan)
    tasks = [TASKS[t] for t in a.tasks]
    env = make_task_env()
    eps = {t.name: sample_episodes(t, env, a.episodes, seed=0) for t in tasks}
    env.close()
    r = evaluate_policies({"p": pol}, tasks, episodes=a.episodes, horizon=a.horizon, episode_sets=eps)
    out = {"tag": a.tag, "over": kw, "train_s": round(train_s), "first": s.get("first"), "final": s.get("final"),
           "per_task": {k: round(v, 2) for k, v in r["per_task"]["p"].items()}, "avg": round(r["average"]["p"], 3),
           "prog": {k: round(v, 2) for k, v in r["progress"]["p"].items()}, "policy": pol_path}
    print(json.dumps(out))
    with open(a.results, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
