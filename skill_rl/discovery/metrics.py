"""Skill-discovery metrics on evaluation rollouts (numpy only). Positions in metres, world frame.

* ``object_coverage``: number of distinct cells of a 2D grid (``cell`` m, default 10 cm as in
  CSD-manipulation) over the table holding the object's final xy, across all skills' rollouts.
* ``skill_distinctness``: mean pairwise distance (m) between the skills' mean final object xy (0 when all
  skills end in the same place); ``distinct_end_cells`` is the number of distinct cells of the skills' mean
  end positions.
* ``safety_violation_rate``: fraction of steps with at least one safety violation.
* ``mean_object_displacement``: mean ‖final xy − initial xy‖ over rollouts.
* ``grasp_consistency``: fraction of rollouts in which the object was grasped at some step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["distinct_end_cells", "grasp_consistency", "mean_object_displacement", "object_coverage",
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
              grasped_any: Sequence[bool], cell: float = 0.1) -> dict[str, float]:
    """All metrics from N rollouts: initial/final object xy ``(N, 2)``, ``skill_ids`` ``(N,)``,
    per-step violations (all rollouts' steps stacked) and per-rollout ``grasped_any``."""
    skill_ids = np.asarray(skill_ids)
    per_skill = [np.asarray(final_xy)[skill_ids == s] for s in np.unique(skill_ids)]
    return {
        "object_coverage": float(object_coverage(final_xy, cell)),
        "skill_distinctness": skill_distinctness(per_skill),
        "distinct_end_cells": float(distinct_end_cells(per_skill, cell)),
        "safety_violation_rate": safety_violation_rate(violations),
        "mean_object_displacement": mean_object_displacement(initial_xy, final_xy),
        "grasp_consistency": grasp_consistency(grasped_any),
    }
