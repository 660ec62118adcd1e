#!/usr/bin/env python
"""Rung c diagnosis: do goals found from the observations alone (the next frame where the objects and the drawer
come to rest, ``DemoSet.rest_goals``) agree with the oracle's (the end of each row's own player segment + 5,
read from the player's log, as ``rung_c_goals.py``)? Agreement is counted in the goal features the policy sees
(the objects' positions and the drawer): two goals agree when no feature differs by 1 cm or more.

    python benchmarks/diagnostics/rest_goals.py --dataset <3 h DART play.hdf5> --out <rest_goals.json>

For each (tol, settle[, stay, away, lift_rise]) setting: the share of rows that get a goal, how far ahead the goals
are, and the share agreeing with the oracle, over all rows, over the rows whose oracle goal moves something, and by
the player's primitive. Also how often something (the cylinder) still moves at the oracle's goal frame, and how often
the cylinder lies on its side: what keeps play from coming to rest where a behaviour ended. Seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rung_c_goals import GOAL_KEYS, player_segments, segment_goal_rows  # noqa: E402

os.environ.setdefault("MUJOCO_GL", "osmesa")


def primitive_of_rows(dataset: str, data: Any) -> Any:
    """Each row's player primitive (the player's log: debug metadata)."""
    import numpy as np

    out = np.empty(len(data.actions), object)
    for a, b, _, primitive in player_segments(dataset, data):
        out[a:b] = primitive
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="", help="play HDF5 from skill-rl play collect")
    p.add_argument("--tols", type=float, nargs="+", default=[3e-4, 1e-3, 3e-3], help="m (drawer: m) per step")
    p.add_argument("--settles", type=int, nargs="+", default=[3, 5, 10, 20], help="steps still")
    p.add_argument("--stays", type=int, nargs="+", default=[0], help="rest_goal_rows' stay (with tol 1e-3, settle 10)")
    p.add_argument("--aways", type=float, nargs="+", default=[], help="rest_goal_rows' away (m; tol 1e-3, settle 10, "
                   "each of --stays): a rest counts once the arm leaves what moved")
    p.add_argument("--before-approach", nargs="+", default=[], choices=["stay", "drop", "far"],
                   help="rest_goal_rows' before_approach (slack 1 cm; far: 12 cm, 5 steps) with each --aways and --stays")
    p.add_argument("--lift-rise", type=float, nargs="+", default=[0.0],
                   help="rest_goal_rows' lift_rise (m; lift_back 0.02) with each --aways setting; 0 = off")
    p.add_argument("--after", type=int, default=5)
    p.add_argument("--debug", action="store_true", help="a tiny play file collected on the spot")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)

    import numpy as np

    from skill_rl.imitation.data import rest_goal_rows
    from skill_rl.play.train import arm_distances, goal_index

    if args.debug:
        import tempfile

        from skill_rl.play.collect import PlayCollectConfig, collect_play

        args.dataset = collect_play(PlayCollectConfig(debug=True, run_root=tempfile.mkdtemp()), progress=False)["dataset"]
    if not args.dataset:
        raise SystemExit("--dataset <play.hdf5> is needed")
    t0 = time.time()
    data, oracle = segment_goal_rows(args.dataset, args.after)
    obs = data.flat_obs()
    feats = obs[:, goal_index(data, GOAL_KEYS)].astype(np.float64)
    oracle_moves = np.abs(feats[oracle] - feats).max(1) >= 0.01  # the oracle's goal differs from the row
    # (stay rows, whose goal is the state they are in, have goal <= row; agreement counts them like any goal)
    rows = []
    arm_dist, groups = arm_distances(data, GOAL_KEYS)
    grid = [(tol, settle, 0, 0.0, "keep", 0.0) for tol in args.tols for settle in args.settles]
    grid += [(1e-3, 10, stay, 0.0, "keep", 0.0) for stay in args.stays if stay]
    grid += [(1e-3, 10, stay, away, mode, rise) for mode in ["keep", *args.before_approach] for away in args.aways
             for stay in args.stays for rise in args.lift_rise]
    primitive = primitive_of_rows(args.dataset, data)
    for tol, settle, stay, away, mode, rise in grid:
        goal = rest_goal_rows(feats, data.episode_lengths, tol, settle, args.after, stay, away, arm_dist, groups,
                              mode, lift_rise=rise, lift_back=0.02)
        has = goal >= 0
        ahead = (goal - np.arange(len(goal)))[has]
        agree = np.abs(feats[np.maximum(goal, 0)] - feats[oracle]).max(1) < 0.01
        stays = has & (goal <= np.arange(len(goal)))  # vs the oracle's stays: rows whose goal moves nothing
        rows.append({"tol": tol, "settle": settle, "stay": stay, "away": away, "before_approach": mode,
                     "lift_rise": rise,
                     "rows_with_goal": float(has.mean()),
                     "stay_rows": float(stays.mean()),
                     "stay_precision": float((stays & ~oracle_moves).sum() / max(stays.sum(), 1)),
                     "stay_recall": float((stays & ~oracle_moves).sum() / max((~oracle_moves).sum(), 1)),
                     "steps_ahead_median": float(np.median(ahead)) if has.any() else None,
                     "steps_ahead_p90": float(np.quantile(ahead, 0.9)) if has.any() else None,
                     "agree_with_oracle": float(agree[has].mean()) if has.any() else None,
                     "agree_where_oracle_moves": float(agree[has & oracle_moves].mean())
                     if (has & oracle_moves).any() else None,
                     "agree_by_primitive": {name: round(float(agree[has & (primitive == name)].mean()), 4)
                                            for name in sorted(set(primitive)) if (has & (primitive == name)).any()}})
    # the baseline: uniform hindsight goals 16-60 steps ahead (rung c's protocol), one draw per row
    ends = np.repeat(data.episode_ends, data.episode_lengths)
    uniform = np.minimum(np.arange(len(feats)) + np.random.default_rng(0).integers(16, 61, len(feats)), ends - 1)
    agree_u = np.abs(feats[uniform] - feats[oracle]).max(1) < 0.01
    rows.append({"uniform_hindsight": [16, 60], "agree_with_oracle": float(agree_u.mean()),
                 "agree_where_oracle_moves": float(agree_u[oracle_moves].mean()) if oracle_moves.any() else None})
    # what still moves at the oracle's goal frame (more than 1 mm per step), and the cylinder lying on its side
    step = np.zeros_like(feats)
    step[1:] = np.abs(np.diff(feats, axis=0))
    step[np.asarray(data.episode_starts)] = 0.0
    cylinder = [GOAL_KEYS.index("cylinder_pos") * 3 + k for k in range(3)]
    quat = obs[:, goal_index(data, ["cylinder_quat"])].astype(np.float64)
    up = 1.0 - 2.0 * (quat[:, 1] ** 2 + quat[:, 2] ** 2)  # z of the cylinder's axis in the world
    result = {"issue": 18, "dataset": str(args.dataset), "after": args.after, "rows": int(len(feats)),
              "oracle_goal_moves_something": float(oracle_moves.mean()),
              "moving_at_oracle_goal_frame": float((step[oracle].max(1) > 1e-3).mean()),
              "cylinder_moving_at_oracle_goal_frame": float((step[oracle][:, cylinder].max(1) > 1e-3).mean()),
              "cylinder_on_its_side": float((np.abs(up) < 0.5).mean()), "settings": rows,
              "elapsed_s": round(time.time() - t0, 2)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for r in rows:
        print(json.dumps(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
