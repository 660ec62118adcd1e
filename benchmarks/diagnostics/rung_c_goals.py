#!/usr/bin/env python
"""Rung c diagnosis: is it the hindsight goals or the play itself? Play-GCBC on the same play file, but each row's
goal is the end of its own player segment (+ ``--after`` steps), read from the player's log that every play episode
keeps (``attrs["primitives"]``: debug metadata, never used by the learners). That is play cut into demos by an
oracle segmentation.

    nice -n 19 python benchmarks/diagnostics/rung_c_goals.py --dataset <play.hdf5> --steps 100000 --episodes 20

If this reaches rung b's level the hindsight goal distribution (goals spanning several segments, so several ways
to get there) is what fails; if not, the play data are short of something the tasks need. Rung b's recipe
(MLP 2 x 256, history 2, Gaussian head, beta-NLL 0.5, ``goal_delta`` on the objects' positions and the drawer,
batch 256), one seed; evaluation as ``benchmarks/imitation.py`` (seed-0 starts, horizon 200). Appends one JSON
line to ``--out`` (default ``benchmarks/results/rung_c_goals.jsonl``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("MUJOCO_GL", "osmesa")

RESULTS = Path(__file__).resolve().parents[1] / "results" / "rung_c_goals.jsonl"
GOAL_KEYS = ["cube_red_pos", "cube_blue_pos", "cylinder_pos", "cabinet_opening"]


def player_segments(dataset: str, data: Any) -> Iterator[tuple[int, int, int, str]]:
    """(first row, end row, episode end row, primitive) of every player segment, from the player's log that every
    play episode keeps (``attrs["primitives"]``); rows are absolute rows of ``data``."""
    import h5py

    with h5py.File(dataset) as f:
        for name, s, e in zip(data.demo_names, data.episode_starts, data.episode_ends, strict=True):
            log = json.loads(f["data"][name].attrs["primitives"])
            starts = [int(r[0]) for r in log]
            for (a, primitive, *_), b in zip(log, [*starts[1:], int(e - s)], strict=True):
                yield s + int(a), s + b, int(e), str(primitive)


def segment_goal_rows(dataset: str, after: int) -> tuple[object, object]:
    """(read play data, each row's goal row: the last row of its segment + ``after``, cut at its episode's end)."""
    import numpy as np

    from skill_rl.play.dataset import read_play_dataset

    data = read_play_dataset(dataset, load_states=False)
    goal_rows = np.empty(len(data.actions), np.int64)
    for a, b, e, _ in player_segments(dataset, data):
        goal_rows[a:b] = min(b - 1 + after, e - 1)
    return data, goal_rows


def next_changing_goal(features: Any, goal_rows: Any, row_ends: Any, tol: float = 0.01) -> Any:
    """Each row's goal row, or where that goal leaves the ``features`` within ``tol`` of the row's, the first goal
    row ahead in the same episode that does not (-1 where there is none)."""
    import numpy as np

    changes = np.abs(features[goal_rows] - features).max(1) >= tol
    out = np.where(changes, goal_rows, -1)
    for r in range(len(out) - 2, -1, -1):  # backwards: a stay row takes the next row's (changing) goal
        if not changes[r] and r + 1 < row_ends[r]:
            out[r] = out[r + 1]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="", help="play HDF5 from skill-rl play collect")
    p.add_argument("--steps", type=int, default=100000)
    p.add_argument("--episodes", type=int, default=20, help="per task")
    p.add_argument("--after", type=int, default=5, help="goal = segment end + this many steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--film", action="store_true", help="the goal through FiLM (goal_film, as rungs b and c now)")
    p.add_argument("--goals", choices=["segment", "segment_no_stay", "rest", "rest_oracle_stays", "oracle_rest_stays",
                                       "rest_lookahead_stays", "rest_far_lift_peaks"],
                   default="segment",
                   help="segment: the oracle's; segment_no_stay: the same, but a row whose segment goal leaves the "
                        "goal features as they are (a retreat, a reach, a pause) gets the next goal ahead that "
                        "changes them (rows with none are dropped); rest: DemoSet.rest_goals' (tol 1e-3, settle 10); "
                        "rest_oracle_stays: rest goals (stay 10, away 0.1 m), but the oracle's stay rows keep their "
                        "own frame; oracle_rest_stays: the oracle's goals, but its stay rows get the rest goals; "
                        "rest_lookahead_stays: rest goals, and rows far from what moves next and not closing in on "
                        "it become stays (rest_goal_rows' before_approach='far'); rest_far_lift_peaks: the same, and the rows of a lift "
                        "that puts its object back get the lift's highest frame as goal (rest_goal_rows' lift_rise=0.05)")
    p.add_argument("--debug", action="store_true", help="tiny play, 30 steps, 1 episode of 20 steps per task")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)

    import numpy as np
    import torch

    from skill_rl.imitation.data import DemoSet, rest_goal_rows
    from skill_rl.imitation.policy import BCConfig, BCPolicy, HistoryPolicy
    from skill_rl.imitation.train import FitConfig, fit
    from skill_rl.play.ladder import evaluate_bc
    from skill_rl.play.tasks import TASKS, make_play_env, sample_episodes
    from skill_rl.play.train import arm_distances, goal_index

    torch.set_num_threads(1)
    horizon, hidden = 200, 256
    if args.debug:
        import tempfile

        from skill_rl.play.collect import PlayCollectConfig, collect_play

        args.dataset = collect_play(PlayCollectConfig(debug=True, run_root=tempfile.mkdtemp()), progress=False)["dataset"]
        args.steps, args.episodes, horizon, hidden = 30, 1, 20, 32
    if not args.dataset:
        raise SystemExit("--dataset <play.hdf5> is needed")
    data, goal_rows = segment_goal_rows(args.dataset, args.after)
    obs = data.flat_obs()
    demos = DemoSet.from_arrays(obs, data.actions, data.episode_lengths, 2, goal=True)
    cols = goal_index(data, GOAL_KEYS)
    if args.goals == "segment_no_stay":
        goal_rows = next_changing_goal(obs[:, cols], goal_rows, np.repeat(data.episode_ends, data.episode_lengths))
        demos.rows = np.flatnonzero(goal_rows >= 0)
    elif args.goals == "rest":
        goal_rows = rest_goal_rows(obs[:, cols], data.episode_lengths, 1e-3, 10, args.after)
        demos.rows = np.flatnonzero(goal_rows >= 0)
    elif args.goals in ("rest_oracle_stays", "oracle_rest_stays"):  # which half of the oracle is the gap?
        rest = rest_goal_rows(obs[:, cols], data.episode_lengths, 1e-3, 10, args.after, 10, 0.1,
                              *arm_distances(data, GOAL_KEYS))
        oracle_stay = np.abs(obs[goal_rows][:, cols] - obs[:, cols]).max(1) < 0.01
        goal_rows = np.where(oracle_stay, np.arange(len(obs)), rest) if args.goals == "rest_oracle_stays" \
            else np.where(oracle_stay, rest, goal_rows)
        demos.rows = np.flatnonzero(goal_rows >= 0)
    elif args.goals in ("rest_lookahead_stays", "rest_far_lift_peaks"):
        arm_dist, groups = arm_distances(data, GOAL_KEYS)
        goal_rows = rest_goal_rows(obs[:, cols], data.episode_lengths, 1e-3, 10, args.after, 10, 0.1,
                                   arm_dist, groups, before_approach="far",
                                   lift_rise=0.05 if args.goals == "rest_far_lift_peaks" else 0.0)
        demos.rows = np.flatnonzero(goal_rows >= 0)
    demos.goal = obs[np.maximum(goal_rows, 0)]
    cfg = BCConfig(obs_dim=obs.shape[1], act_dim=data.actions.shape[1], history=2, hidden=hidden, layers=2,
                   head="gaussian", goal_index=cols, goal_delta=True, nll_beta=0.5,
                   goal_film=args.film)
    torch.manual_seed(args.seed)
    model = BCPolicy(cfg)
    model.set_normaliser(obs.mean(0), obs.std(0))
    t0 = time.perf_counter()
    fit(model, demos.sample, FitConfig(steps=args.steps, batch_size=256, seed=args.seed))
    train_s = time.perf_counter() - t0
    policy = HistoryPolicy(model.eval())
    env = make_play_env()
    per_task = {}
    for task in TASKS.values():
        r = evaluate_bc(policy, task, sample_episodes(task, env, args.episodes, seed=0), env, horizon=horizon)
        per_task[task.name] = {"success": r["success_rate"], "reached": r["reached_rate"], "moved": r["moved_rate"]}
    env.close()
    what = {"segment": "segment end", "segment_no_stay": "segment end, stays -> next change", "rest": "rest onset",
            "rest_oracle_stays": "rest onset (stay 10, away 0.1), the oracle's stays own frame",
            "oracle_rest_stays": "segment end, the oracle's stays -> rest goals (stay 10, away 0.1)",
            "rest_lookahead_stays": "rest onset (stay 10, away 0.1), rows far and not closing in -> own frame",
            "rest_far_lift_peaks": "as rest_lookahead_stays, a put-back lift's rows -> its highest frame"}
    line = {"dataset": args.dataset, "goals": f"{what[args.goals]} + {args.after}", "steps": args.steps, "seed": args.seed,
            "goal_film": args.film,
            "episodes": args.episodes, "train_s": round(train_s), "segments": int(len(np.unique(goal_rows))),
            "mean": float(np.mean([v["success"] for v in per_task.values()])), "per_task": per_task}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")
    print(json.dumps({k: line[k] for k in ("goals", "steps", "mean", "train_s")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
