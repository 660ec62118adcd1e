#!/usr/bin/env python
"""Why ``cylinder_in_region`` resists BC: where is the gripper when the cylinder first moves (> 5 mm)?

For the expert demos (the HDF5 that trained the policy) and for a policy file of ``benchmarks/imitation.py`` on the
same held-out episodes (``<out-dir>/episodes/cylinder_in_region.npz``): the gripper's horizontal distance from the
cylinder's axis, its height above the cylinder's centre, the finger opening and whether the gripper had been
commanded closed before. A policy that knocks the cylinder with open fingers off its axis fails differently from
one that grasps and then loses it.

    python benchmarks/diagnostics/cylinder_contact.py --demos <demos>/cylinder_in_region.hdf5 \\
        --policy <out-dir>/runs/b/seed0/policy.pt --episodes-file <out-dir>/episodes/cylinder_in_region.npz

Writes ``--out`` (JSON): per-episode rows and their means for ``expert`` and ``policy``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("MUJOCO_GL", "osmesa")

TASK = "cylinder_in_region"


def first_contact(eef: np.ndarray, cyl: np.ndarray, finger_width: np.ndarray, grip_cmd: np.ndarray
                  ) -> dict[str, Any] | None:
    """The step at which the cylinder has first moved > 5 mm horizontally, and the gripper's state there."""
    moved = np.linalg.norm(cyl[:, :2] - cyl[0, :2], axis=1) > 0.005
    if not moved.any():
        return None
    t = int(np.argmax(moved))
    return {"t": t, "dz_m": round(float(eef[t, 2] - cyl[t, 2]), 4),
            "dxy_m": round(float(np.linalg.norm(eef[t, :2] - cyl[t, :2])), 4),
            "finger_width_m": round(float(finger_width[t]), 4), "closed_before": bool((grip_cmd[:t] > 0).any())}


def _means(rows: list[dict[str, Any] | None]) -> dict[str, Any]:
    hit = [r for r in rows if r and "t" in r]
    out: dict[str, Any] = {"episodes": len(rows), "cylinder_moved": len(hit)}
    for k in ("t", "dz_m", "dxy_m", "finger_width_m", "closed_before"):
        vals = [float(r[k]) for r in hit]
        out[f"mean_{k}"] = round(float(np.mean(vals)), 4) if vals else None
        out[f"median_{k}"] = round(float(np.median(vals)), 4) if vals else None
    succ = [r["success"] for r in rows if r and "success" in r]
    if succ:
        out["success_rate"] = float(np.mean(succ))
    return out


def main() -> int:
    import h5py
    import torch

    from skill_rl.imitation.policy import HistoryPolicy
    from skill_rl.play.tasks import TASKS, TaskEpisode, make_play_env, rollout

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--demos", required=True)
    p.add_argument("--policy", required=True)
    p.add_argument("--episodes-file", required=True)
    p.add_argument("--n", type=int, default=20, help="demos and held-out episodes")
    p.add_argument("--horizon", type=int, default=200)
    p.add_argument("--out", default="cylinder_contact.json")
    args = p.parse_args()
    torch.set_num_threads(1)

    expert = []
    with h5py.File(args.demos, "r") as f:
        for key in list(f["data"])[: args.n]:
            d = f["data"][key]
            expert.append(first_contact(d["obs/eef_pos"][:], d["obs/cylinder_pos"][:],
                                        d["obs/gripper_qpos"][:].sum(1), d["actions"][:, -1]))
    policy = HistoryPolicy.load(args.policy)
    eps = np.load(args.episodes_file)
    task, env = TASKS[TASK], make_play_env()
    lay = env.obs_layout
    rows: list[dict[str, Any] | None] = []
    for i in range(min(args.n, len(eps["seeds"]))):
        episode = TaskEpisode(TASK, int(eps["seeds"][i]), eps["goal_obs"][i], eps["start_obs"][i], 0)
        seen: list[np.ndarray] = []  # the observation each action was taken in
        cmd: list[float] = []

        def act(obs: np.ndarray, goal: np.ndarray = episode.goal_obs, seen: list[np.ndarray] = seen,
                cmd: list[float] = cmd) -> np.ndarray:
            action = policy.act(obs.astype(np.float32), goal)
            seen.append(obs)
            cmd.append(float(action[-1]))
            return action

        res = rollout(task, env, episode, policy, horizon=args.horizon, act=act)
        o = np.array(seen)
        row = first_contact(o[:, lay["eef_pos"]], o[:, lay["cylinder_pos"]], o[:, lay["gripper_qpos"]].sum(1),
                            np.array(cmd)) or {}
        rows.append({**row, "success": bool(res["success"])})
    env.close()
    doc = {"task": TASK, "demos": args.demos, "policy": args.policy, "expert": _means(expert), "policy_rollouts":
           _means(rows), "expert_rows": expert, "policy_rows": rows}
    Path(args.out).write_text(json.dumps(doc, indent=1))
    print(json.dumps({"expert": doc["expert"], "policy": doc["policy_rollouts"]}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
