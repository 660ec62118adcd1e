"""Demonstrations in memory and the typed batches the BC policies train on (numpy in, torch out)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from .history import history_index

__all__ = ["BCBatch", "DemoSet"]


class BCBatch(NamedTuple):
    """obs (B, H, D) float32 raw observation histories (oldest first); actions (B, A) float32 in [-1, 1], the
    action taken after the newest frame; goal (B, D) float32 raw goal observations, or None (no goal)."""

    obs: torch.Tensor
    actions: torch.Tensor
    goal: torch.Tensor | None = None


@dataclass
class DemoSet:
    """Every step of a set of demos: ``obs`` (N, D), ``actions`` (N, A), ``hist`` (N, H) row indices of each
    step's history (:func:`~skill_rl.imitation.history.history_index`), ``goal`` (N, D) each step's goal
    observation (its demo's last observation) or None, ``episode_ends`` (E,) exclusive row ends, ``rows`` the
    rows batches are drawn from (None: all), ``group_sizes`` (G,) set by ``concat(..., balanced=True)``: ``rows``
    is G consecutive groups of these sizes (one per part) and :meth:`sample` draws each group equally often."""

    obs: np.ndarray
    actions: np.ndarray
    hist: np.ndarray
    goal: np.ndarray | None
    episode_ends: np.ndarray
    rows: np.ndarray | None = None
    group_sizes: np.ndarray | None = None
    goal_offsets: tuple[int, int] | None = None  # hindsight goals: see :meth:`hindsight`
    row_ends: np.ndarray | None = None  # hindsight goals: each row's episode end (exclusive)

    def __len__(self) -> int:
        """The number of training samples (``rows``, or every row)."""
        return int(self.actions.shape[0] if self.rows is None else len(self.rows))

    @property
    def n_episodes(self) -> int:
        return int(len(self.episode_ends))

    @classmethod
    def from_arrays(cls, obs: np.ndarray, actions: np.ndarray, lengths: Sequence[int], history: int,
                    goal: bool = False, skip_last: bool = False) -> DemoSet:
        """Demos stored back to back (``lengths`` steps each). ``goal``: each step's goal is its demo's last
        observation (the state the demo ends in). ``skip_last``: never train on a demo's last row (it stays the
        goal and a history frame), e.g. the play demos' final "stay" row."""
        obs = np.asarray(obs, np.float32)
        actions = np.asarray(actions, np.float32)
        lengths_a = np.asarray(lengths, np.int64)
        if obs.ndim != 2 or actions.ndim != 2 or len(obs) != len(actions):
            raise ValueError(f"obs (N, D) and actions (N, A) must have the same N, got {obs.shape} and "
                             f"{actions.shape}")
        if (lengths_a < 1).any() or int(lengths_a.sum()) != len(obs):
            raise ValueError(f"episode lengths must be >= 1 and sum to the {len(obs)} rows, got sum "
                             f"{int(lengths_a.sum())}")
        ends = np.cumsum(lengths_a)
        starts = ends - lengths_a
        goals = np.repeat(obs[ends - 1], lengths_a, axis=0) if goal else None
        rows = np.setdiff1d(np.arange(len(obs)), ends - 1) if skip_last else None
        return cls(obs, actions, history_index(starts, ends, history), goals, ends, rows)

    @classmethod
    def hindsight(cls, obs: np.ndarray, actions: np.ndarray, lengths: Sequence[int], history: int,
                  goal_offsets: tuple[int, int]) -> DemoSet:
        """Unsegmented play as goal-conditioned data (Play-GCBC's hindsight relabelling, Lynch et al. 2019): each
        sampled row's goal is the observation ``k`` steps later in its episode, ``k`` drawn uniformly from
        ``goal_offsets`` (inclusive; cut at the episode's last row) every time the row is drawn."""
        lo, hi = (int(v) for v in goal_offsets)
        if not 1 <= lo <= hi:
            raise ValueError(f"goal_offsets must be 1 <= low <= high, got {goal_offsets}")
        base = cls.from_arrays(obs, actions, lengths, history)
        base.goal_offsets = (lo, hi)
        base.row_ends = np.repeat(base.episode_ends, np.diff(np.concatenate([[0], base.episode_ends])))
        return base

    def batch(self, idx: np.ndarray, device: str | torch.device = "cpu", goal_rows: np.ndarray | None = None
              ) -> BCBatch:
        """Rows ``idx``; their goals are the ``goal`` rows, or the observations at ``goal_rows`` (hindsight)."""
        goal = (None if self.goal is None else torch.as_tensor(self.goal[idx], device=device)) if goal_rows is None \
            else torch.as_tensor(self.obs[goal_rows], device=device)
        return BCBatch(torch.as_tensor(self.obs[self.hist[idx]], device=device),
                       torch.as_tensor(self.actions[idx], device=device), goal)

    def sample(self, rng: np.random.Generator, n: int, device: str | torch.device = "cpu") -> BCBatch:
        """``n`` training samples (``rows``) drawn with replacement: uniformly over the rows, or, with
        ``group_sizes``, a uniform group and then a uniform row within it (a short task's rows are not
        outnumbered by a long task's)."""
        if self.group_sizes is None:
            idx = rng.integers(0, len(self), size=n)
        else:
            starts = np.cumsum(self.group_sizes) - self.group_sizes
            g = rng.integers(0, len(self.group_sizes), size=n)
            idx = starts[g] + (rng.random(n) * self.group_sizes[g]).astype(np.int64)
        rows = idx if self.rows is None else self.rows[idx]
        goal_rows = None
        if self.goal_offsets is not None and self.row_ends is not None:
            goal_rows = np.minimum(rows + rng.integers(self.goal_offsets[0], self.goal_offsets[1] + 1, size=n),
                                   self.row_ends[rows] - 1)
        return self.batch(rows, device, goal_rows)

    @staticmethod
    def concat(parts: Sequence[DemoSet], balanced: bool = False) -> DemoSet:
        """Several demo sets as one (e.g. all tasks' demos for a multi-task policy). ``balanced``: batches draw
        each part equally often, whatever its number of rows (task-balanced batches for a multi-task policy)."""
        if not parts:
            raise ValueError("nothing to concatenate")
        if any(p.group_sizes is not None for p in parts):
            raise ValueError("concatenating an already balanced DemoSet: concatenate its parts instead")
        if len({p.goal_offsets for p in parts}) != 1:
            raise ValueError("either every part has the same hindsight goal_offsets or none has")
        if len({p.goal is None for p in parts}) != 1:
            raise ValueError("either every part has goals or none has")
        offsets = np.cumsum([0] + [len(p.obs) for p in parts[:-1]])
        goal = None if parts[0].goal is None else np.concatenate([p.goal for p in parts])  # type: ignore[misc]
        rows = None
        if balanced or any(p.rows is not None for p in parts):
            rows = np.concatenate([(np.arange(len(p.obs)) if p.rows is None else p.rows) + o
                                   for p, o in zip(parts, offsets, strict=True)])
        return DemoSet(np.concatenate([p.obs for p in parts]), np.concatenate([p.actions for p in parts]),
                       np.concatenate([p.hist + o for p, o in zip(parts, offsets, strict=True)]), goal,
                       np.concatenate([p.episode_ends + o for p, o in zip(parts, offsets, strict=True)]), rows,
                       np.array([len(p) for p in parts], np.int64) if balanced else None, parts[0].goal_offsets,
                       None if parts[0].row_ends is None else
                       np.concatenate([p.row_ends + o for p, o in zip(parts, offsets, strict=True)]))  # type: ignore[operator]
