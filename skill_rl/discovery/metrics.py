"""Skill-discovery metrics on evaluation rollouts (numpy only). Positions in metres, world frame.

* ``object_coverage``: number of distinct cells of a 2D grid (``cell`` m, default 10 cm as in
  CSD-manipulation) over the table holding the object's final xy, across all skills' rollouts.
* ``skill_distinctness``: mean pairwise distance (m) between the skills' mean final object xy (0 when all
  skills end in the same place); ``distinct_end_cells`` is the number of distinct cells of the skills' mean
  end positions.
* ``skill_classifier_accuracy``: how reliably z can be told from a trajectory: held-out (leave one start
  state out) accuracy of a nearest-centroid classifier (standardised features) that predicts the skill from trajectory features
  (object and end-effector positions at a few evenly spaced times). Chance is 1 / number of skills; NaN
  when no skill has two rollouts (nothing to hold out). Why this classifier: it needs no training loop
  (numpy, deterministic), and with a handful of rollouts per skill a richer model would only overfit.
* ``safety_violation_rate``: fraction of steps with at least one safety violation;
  ``violation_rate_<kind>``: the fraction of steps violating each constraint (joint limit, joint velocity,
  object off the table, arm-table contact).
* ``mean_object_displacement``: mean ‖final xy − initial xy‖ over rollouts.
* ``grasp_consistency``: fraction of rollouts in which the object was grasped at some step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["per_skill_summary", "distinct_end_cells", "skill_classifier_accuracy", "trajectory_features", "grasp_consistency", "mean_object_displacement", "object_coverage",
           "safety_violation_rate", "skill_distinctness", "summarize"]


def _cells(xy: np.ndarray, cell: float) -> set[tuple[int, int]]:
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    return {tuple(c) for c in np.floor(xy / cell).astype(np.int64).tolist()}


def object_coverage(final_xy: np.ndarray, cell: float = 0.1) -> int:
    """Distinct ``cell``-sized grid cells holding the final object xy ``(N, 2)`` of N rollouts."""
    return len(_cells(final_xy, cell))


def distinct_end_cells(final_xy_per_skill: Sequence[np.ndarray], cell: float = 0.1) -> int:
    """Distinct grid cells of each skill's mean final object xy."""
    return len(_cells(np.stack([np.asarray(x).reshape(-1, 2).mean(0) for x in final_xy_per_skill]), cell))


def skill_distinctness(final_xy_per_skill: Sequence[np.ndarray]) -> float:
    """Mean pairwise distance between the skills' mean final object xy (``[(n_i, 2)]`` per skill)."""
    means = np.stack([np.asarray(x, dtype=np.float64).reshape(-1, 2).mean(0) for x in final_xy_per_skill])
    if len(means) < 2:
        return 0.0
    d = np.linalg.norm(means[:, None] - means[None], axis=-1)
    return float(d[np.triu_indices(len(means), 1)].mean())


def trajectory_features(traj: np.ndarray, n_points: int = 4) -> np.ndarray:
    """Features of one trajectory ``(T, d)`` (rows: states over time): ``n_points`` evenly spaced rows from
    the second to the last, flattened to ``(n_points * d,)``."""
    traj = np.asarray(traj, dtype=np.float64)
    if traj.ndim != 2 or len(traj) == 0:
        raise ValueError(f"trajectory must be a non-empty (T, d) array, got shape {traj.shape}")
    idx = np.linspace(min(1, len(traj) - 1), len(traj) - 1, n_points).round().astype(int)
    return traj[idx].reshape(-1)


def skill_classifier_accuracy(features: np.ndarray, skill_ids: np.ndarray, groups: np.ndarray | None = None) -> float:
    """Held-out nearest-centroid accuracy of predicting ``skill_ids`` ``(N,)`` from ``features`` ``(N, F)``.

    Cross-validation leaves out one group at a time (``groups`` ``(N,)``, e.g. the start state's index: every
    skill rolled out from the same starts), or one rollout at a time without ``groups``. The held-out
    rollouts are classified by the centroids of the rest (features standardised with the rest's mean/std);
    a tie between centroids counts as a random pick among them, so skills that all do the same thing score
    chance. Rollouts whose skill has no training rollout are skipped; NaN when none is left. Why leave a
    start out: with a rollout left out, the other skills' rollouts from the same start pull their centroids
    towards it and indistinguishable skills would score below chance.
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(skill_ids)
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"features must be (N, F) with N = len(skill_ids); got {x.shape} and {y.shape}")
    g = np.arange(len(y)) if groups is None else np.asarray(groups)
    correct, total = 0.0, 0
    for grp in np.unique(g):
        test, rest = g == grp, g != grp
        if not rest.any():
            continue
        mu, sd = x[rest].mean(0), x[rest].std(0) + 1e-8
        xr = (x[rest] - mu) / sd
        labels = np.unique(y[rest])
        cents = np.stack([xr[y[rest] == lab].mean(0) for lab in labels])
        for i in np.flatnonzero(test):
            if y[i] not in labels:
                continue
            d = (((x[i] - mu) / sd - cents) ** 2).sum(-1)
            tied = labels[d <= d.min() + 1e-9]
            correct += float(y[i] in tied) / len(tied)
            total += 1
    return correct / total if total else float("nan")


# the columns of SafetyReward.violations (skill_rl.discovery.rewards), in order
VIOLATION_KINDS = ("joint_limit", "joint_velocity", "object_off_table", "arm_table_contact")


def safety_violation_rate(violation_steps: np.ndarray) -> float:
    """Fraction of steps with any violation; ``violation_steps`` is ``(T,)`` or ``(T, n_kinds)`` bool."""
    v = np.asarray(violation_steps, dtype=bool)
    if v.size == 0:
        return 0.0
    return float(v.reshape(len(v), -1).any(-1).mean())


def mean_object_displacement(initial_xy: np.ndarray, final_xy: np.ndarray) -> float:
    d = np.asarray(final_xy, np.float64).reshape(-1, 2) - np.asarray(initial_xy, np.float64).reshape(-1, 2)
    return float(np.linalg.norm(d, axis=-1).mean()) if len(d) else 0.0


def grasp_consistency(grasped_any: Sequence[bool]) -> float:
    g = np.asarray(grasped_any, dtype=bool)
    return float(g.mean()) if g.size else 0.0


def summarize(initial_xy: np.ndarray, final_xy: np.ndarray, skill_ids: np.ndarray, violations: np.ndarray,
              grasped_any: Sequence[bool], cell: float = 0.1, features: np.ndarray | None = None,
              episode_violations: Sequence[bool] | None = None, groups: np.ndarray | None = None) -> dict[str, float]:
    """All metrics from N rollouts: initial/final object xy ``(N, 2)``, ``skill_ids`` ``(N,)``,
    per-step violations (all rollouts' steps stacked), per-rollout ``grasped_any``, optionally trajectory
    ``features`` ``(N, F)`` (for ``skill_classifier_accuracy``) and per-rollout ``episode_violations``
    (any violation in the episode: ``safety_violations_per_episode``)."""
    skill_ids = np.asarray(skill_ids)
    per_skill = [np.asarray(final_xy)[skill_ids == s] for s in np.unique(skill_ids)]
    extra: dict[str, float] = {}
    if features is not None:
        extra["skill_classifier_accuracy"] = skill_classifier_accuracy(features, skill_ids, groups)
        extra["skill_classifier_chance"] = 1.0 / max(len(np.unique(skill_ids)), 1)
    if episode_violations is not None:
        ev = np.asarray(episode_violations, dtype=bool)
        extra["episodes_with_violation"] = float(ev.mean()) if ev.size else 0.0
    v = np.asarray(violations, dtype=bool)
    if v.ndim == 2 and v.shape[1] == len(VIOLATION_KINDS):  # which constraint: what a safety regression is about
        for j, kind in enumerate(VIOLATION_KINDS):
            extra[f"violation_rate_{kind}"] = float(v[:, j].mean()) if len(v) else 0.0
    return {**extra,
        "object_coverage": float(object_coverage(final_xy, cell)),
        "skill_distinctness": skill_distinctness(per_skill),
        "distinct_end_cells": float(distinct_end_cells(per_skill, cell)),
        "safety_violation_rate": safety_violation_rate(violations),
        "mean_object_displacement": mean_object_displacement(initial_xy, final_xy),
        "grasp_consistency": grasp_consistency(grasped_any),
    }


def per_skill_summary(initial_xy: np.ndarray, final_xy: np.ndarray, skill_ids: np.ndarray, grasped_any: Sequence[bool],
                      episode_violations: Sequence[bool] | None = None) -> list[dict[str, float]]:
    """Per skill: ``mean_final_xy`` (m), ``mean_object_displacement`` (m), ``grasp_rate``,
    ``episodes_with_violation`` and ``rollouts`` (for the skill library's per-skill metrics)."""
    ids = np.asarray(skill_ids)
    init, fin = np.asarray(initial_xy, np.float64).reshape(-1, 2), np.asarray(final_xy, np.float64).reshape(-1, 2)
    g = np.asarray(grasped_any, bool)
    ev = np.asarray(episode_violations, bool) if episode_violations is not None else np.zeros(len(ids), bool)
    out = []
    for s in np.unique(ids):
        m = ids == s
        out.append({"skill": int(s), "mean_final_xy": fin[m].mean(0).round(4).tolist(),
                    "mean_object_displacement": mean_object_displacement(init[m], fin[m]),
                    "grasp_rate": float(g[m].mean()), "episodes_with_violation": float(ev[m].mean()),
                    "rollouts": int(m.sum())})
    return out
