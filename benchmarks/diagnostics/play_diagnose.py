#!/usr/bin/env python
"""Diagnosis helper: train one play policy with config overrides and evaluate it on a few named tasks.

    nice -n 10 python benchmarks/diagnostics/play_diagnose.py --dataset <play.hdf5> --tag C --over algo=gcbc steps=4000 \
        goal=future goal_horizon=150 goal_keys=cube_red_pos,cube_red_quat,...
    nice -n 10 python benchmarks/diagnostics/play_diagnose.py --policy <policy.pt> --tag C_sto --sto   # evaluate only

    nice -n 10 python benchmarks/diagnostics/play_diagnose.py --policy <policy.pt> --tag X --replay-goals 40 --dataset <play.hdf5>
    nice -n 10 python benchmarks/diagnostics/play_diagnose.py --policy <policy.pt> --tag X --tasks --probe-starts --dataset <play.hdf5>

Overrides are ``PlayTrainConfig`` fields (lists comma-separated). ``--replay-goals N`` adds an in-distribution
check: from N episode starts of the training play file itself (the env reset with the episode's seed reproduces
its first frame; ``--replay-middle``: recorded mid-episode states), reach the object state the play reached
40-150 (``--replay-k``) steps later (see :func:`replay_goals`). ``--probe-starts``: does the first action at
play's episode starts depend on the goal (see :func:`probe_start_actions`)? ``--sample-plan``: act with a
plan drawn from the proposal (the paper's inference) and the action mixture's mode. Evaluation: deterministic (unless ``--sto``),
``--episodes`` per task on the same starts and goals as ``play_quality.py`` (seed 0), ``--horizon`` steps.
Appends one JSON line per run to ``--results``; the runs in ``benchmarks/results/play_diagnosis.json`` were
made with it (see docs/play.md).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "osmesa")

DEFAULT_TASKS = ["push_red_left", "push_blue_right", "lift_red", "red_in_region", "open_drawer", "close_drawer"]


def replay_goals(policy, dataset: str, trials: int, *, k_range=(40, 150), middle: bool = False, horizon: int = 250,
                 tol_m: float = 0.03, seed: int = 0) -> dict:
    """Success (the object that moved most, >= 5 cm, within ``tol_m`` of its goal position) and progress
    (1 - closest distance / distance at the start) at reaching play's own object state ``k_range`` steps ahead,
    from play's own episode starts or (``middle``) from a random recorded mid-episode state (``restore_state``;
    horizon 3 x the longest k); ``policy=None`` acts uniformly at random. Goal reaching on the training
    distribution: a policy that fails here fails at learning from play, not at generalising to the named tasks."""
    import numpy as np

    from skill_rl import envs
    from skill_rl.envs.tabletop import TabletopConfig
    from skill_rl.play.dataset import read_play_dataset
    from skill_rl.play.train import _episode_seeds

    data = read_play_dataset(dataset, load_states=middle)
    layout, obs_all = data.env_args["obs_layout"], data.flat_obs()
    seeds = _episode_seeds(dataset, data.demo_names)
    if None in seeds:
        raise SystemExit(f"{dataset}: replay needs every episode's reset seed (a file from `skill-rl play collect`)")
    horizon = 3 * k_range[1] if middle else horizon
    env = envs.make(data.env_args["env_id"],
                    config=TabletopConfig(**{**data.env_args["env_kwargs"], "max_episode_steps": 10**6}))
    nq = env.unwrapped.model.nq
    rng = np.random.default_rng(seed)
    objects = [k[: -len("_pos")] for k in ("cube_red_pos", "cube_blue_pos", "cylinder_pos") if k in layout]
    wins, progress = [], []
    try:
        while len(wins) < trials:
            ep = int(rng.integers(len(seeds)))
            start, length = int(data.episode_starts[ep]), int(data.episode_lengths[ep])
            if length <= k_range[1] + 1:
                continue
            t = start + (int(rng.integers(0, length - k_range[1] - 1)) if middle else 0)
            goal = obs_all[t + int(rng.integers(k_range[0], k_range[1] + 1))]
            pos = {o: slice(*layout[f"{o}_pos"]) for o in objects}
            moved = {o: float(np.linalg.norm(goal[sl] - obs_all[t][sl])) for o, sl in pos.items()}
            obj = max(moved, key=moved.get)
            if moved[obj] < 0.05:
                continue
            obs, _ = env.reset(seed=seeds[ep])
            if t > start:
                obs = env.unwrapped.restore_state(data.states[t, :nq], data.states[t, nq:nq + env.unwrapped.model.nv],
                                                  gripper_command=float(data.actions[t - 1, -1]))
            if policy is not None:
                policy.reset()
            sl, best = pos[obj], float("inf")
            for _ in range(horizon):
                action = rng.uniform(-1, 1, env.action_space.shape) if policy is None else policy.act(obs, goal)
                obs, *_ = env.step(np.asarray(action, np.float32))
                best = min(best, float(np.linalg.norm(obs[sl] - goal[sl])))
                if best < tol_m:
                    break
            wins.append(best < tol_m)
            progress.append(1.0 - best / moved[obj])
    finally:
        env.close()
    return {"trials": trials, "from": "middle" if middle else "start", "k": list(k_range),
            "success": float(np.mean(wins)), "progress": round(float(np.mean(progress)), 3)}


def probe_start_actions(policy, dataset: str, *, seed: int = 0) -> dict:
    """Open loop at play's own episode starts (the reset pose every evaluation starts from): cosine between the
    policy's first xyz action for a goal 40-150 steps ahead and the play's mean xyz action over its first 10
    steps, with the true goal and with another episode's goal (shuffled). Equal cosines = the first move ignores
    the goal; ``cos_mean_play_move``: a goal-blind constant (play's average first move). Also the play's own
    cosine between that move and the direction to the object it moves first (how much the goal could tell)."""
    import numpy as np

    from skill_rl.play.dataset import read_play_dataset

    data = read_play_dataset(dataset)
    layout, obs_all, act_all = data.env_args["obs_layout"], data.flat_obs(), data.actions
    rng = np.random.default_rng(seed)
    objects = [slice(*layout[k]) for k in ("cube_red_pos", "cube_blue_pos", "cylinder_pos") if k in layout]
    eef = slice(*layout["eef_pos"])
    obs, goals, moves, to_first = [], [], [], []
    for start, length in zip(data.episode_starts, data.episode_lengths, strict=True):
        if length < 160:
            continue
        o = obs_all[start:start + length]
        obs.append(o[0])
        goals.append(o[int(rng.integers(40, 151))])
        moves.append(act_all[start:start + 10, :3].mean(0))
        far = {i: np.linalg.norm(o[:, sl] - o[0, sl], axis=1) > 0.03 for i, sl in enumerate(objects)}
        moved = [(int(np.argmax(f)), objects[i]) for i, f in far.items() if f.any()]  # (first step, object)
        to_first.append(o[0, min(moved, key=lambda m: m[0])[1]] - o[0, eef] if moved else np.full(3, np.nan))
    obs, goals, moves, to_first = map(np.asarray, (obs, goals, moves, to_first))

    def cos(x: np.ndarray) -> np.ndarray:
        return np.sum(x * moves, 1) / np.linalg.norm(x, axis=1) / np.linalg.norm(moves, axis=1)

    def first_actions(g: np.ndarray) -> np.ndarray:
        policy.reset()  # a batch: one plan per start, as if each were its own episode's first step
        return policy.act(obs.astype(np.float32), g.astype(np.float32))[:, :3]

    return {"starts": len(obs), "cos_true_goal": round(float(cos(first_actions(goals)).mean()), 3),
            "cos_shuffled_goal": round(float(cos(first_actions(goals[rng.permutation(len(goals))])).mean()), 3),
            "cos_mean_play_move": round(float(cos(np.broadcast_to(moves.mean(0), moves.shape)).mean()), 3),
            "play_cos_to_first_moved_object": round(float(np.nanmean(cos(to_first))), 3)}


def main() -> None:
    import torch

    from skill_rl.play.evaluate import evaluate_policies
    from skill_rl.play.policy import LatentPlanPolicy
    from skill_rl.play.tasks import TASKS, make_play_env, sample_episodes
    from skill_rl.play.train import PlayTrainConfig, train_play

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="")
    ap.add_argument("--tag", default="run")
    ap.add_argument("--over", nargs="*", default=[], help="PlayTrainConfig overrides key=value (lists: a,b; empty: key=)")
    ap.add_argument("--tasks", nargs="*", default=DEFAULT_TASKS)
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--horizon", type=int, default=200)
    ap.add_argument("--policy", default="", help="evaluate this policy.pt instead of training one")
    ap.add_argument("--replan", type=int, default=20)
    ap.add_argument("--sto", action="store_true", help="sample plans and actions instead of mean / mode")
    ap.add_argument("--sample-plan", action="store_true", help="sample the plan, act with the mixture's mode")
    ap.add_argument("--replay-goals", type=int, default=0, metavar="N",
                    help="also reach N of the play file's own future object states from its episode starts")
    ap.add_argument("--replay-k", type=int, nargs=2, default=[40, 150], metavar=("LO", "HI"),
                    help="--replay-goals: the goal is the play's state LO-HI steps after the start")
    ap.add_argument("--replay-middle", action="store_true",
                    help="--replay-goals: start from random recorded mid-episode states instead of episode starts")
    ap.add_argument("--probe-starts", action="store_true",
                    help="also probe the first action at the play file's episode starts (true vs shuffled goal)")
    ap.add_argument("--run-root", default=str(Path(tempfile.gettempdir()) / "play_diag_runs"))
    ap.add_argument("--results", default=str(Path(tempfile.gettempdir()) / "play_diagnosis.jsonl"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    defaults = PlayTrainConfig()
    kw: dict = {}
    for o in a.over:
        k, v = o.split("=", 1)
        d = getattr(defaults, k)
        kw[k] = [x for x in v.split(",") if x] if isinstance(d, list) else (v == "true" if isinstance(d, bool) else type(d)(v))
    t0 = time.time()
    s: dict = {}
    if a.policy:
        pol_path = a.policy
    else:
        s = train_play(PlayTrainConfig(dataset=a.dataset, threads=1, progress=False, run_root=a.run_root,
                                       run_name=a.tag, ckpt_every=10**9, **kw))
        pol_path = s["policy"]
    train_s = time.time() - t0
    pol = LatentPlanPolicy.load(pol_path, deterministic=not a.sto, replan_every=a.replan,
                                sample_plan=a.sample_plan or None)
    tasks = [TASKS[t] for t in a.tasks]
    out = {"tag": a.tag, "over": kw, "train_s": round(train_s), "first": s.get("first"), "final": s.get("final"),
           "policy": pol_path, "sample_plan": pol.sample_plan}
    if tasks:  # `--tasks` with no names: replay goals only
        env = make_play_env()
        eps = {t.name: sample_episodes(t, env, a.episodes, seed=0) for t in tasks}
        env.close()
        r = evaluate_policies({"p": pol}, tasks, episodes=a.episodes, horizon=a.horizon, episode_sets=eps)
        out.update(per_task={k: round(v, 2) for k, v in r["per_task"]["p"].items()}, avg=round(r["average"]["p"], 3),
                   prog={k: round(v, 2) for k, v in r["progress"]["p"].items()})
    if a.replay_goals:
        k = tuple(a.replay_k)
        out["replay_goals"] = replay_goals(pol, a.dataset, a.replay_goals, k_range=k, middle=a.replay_middle)
        out["replay_goals_random"] = replay_goals(None, a.dataset, a.replay_goals, k_range=k, middle=a.replay_middle)
    if a.probe_starts:
        out["probe_starts"] = probe_start_actions(pol, a.dataset)
    print(json.dumps(out))
    with open(a.results, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
