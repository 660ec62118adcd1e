"""Windows of play with hindsight goal relabelling (Play-LMP), numpy only.

A sample is a window of ``W`` consecutive steps ``[s, s + W)`` inside one episode plus a goal index ``g``
in the same episode: ``goal="last"`` takes the window's last frame (``g = s + W - 1``, the Play-LMP paper's
relabelling); ``goal="future"`` a uniformly random frame in ``[s + W - 1, min(s + W - 1 + horizon, end - 1)]``;
``goal="end"`` the episode's last frame (for demonstrations that end at their goal: per-task BC).
No window or goal ever crosses an episode boundary; episodes shorter than ``W`` are skipped.

Variable-length windows (MCIL/CALVIN sample lengths in [16, 32]): with ``min_window=m < W`` each sample
draws a length ``l`` in ``[m, W]`` (cut short by the episode's end), its steps are padded to ``W`` by
repeating the last real step, ``mask`` marks the real ones, and the goal is relabelled from the last
*real* step. Starts are then those valid for ``m`` (episodes shorter than ``m`` are skipped).

Indices are global (into the concatenated arrays of :class:`~skill_rl.play.dataset.PlayData`), so
``obs[idx]`` is a (B, W, D) batch. Torch ``Dataset`` adapters can wrap :class:`WindowSampler` later.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["WindowBatch", "WindowIndex", "WindowSampler", "gather_windows"]


class WindowIndex(NamedTuple):
    """Global step indices of a batch of windows.

    steps: (B, W) int64, the window's steps (padded windows repeat their last real step); goal: (B,) int64,
    the relabelled goal step (same episode, ``>= steps[:, -1]``); episode: (B,) int64, the episode each
    window comes from; mask: (B, W) bool, True on real (not padding) steps.
    """

    steps: np.ndarray
    goal: np.ndarray
    episode: np.ndarray
    mask: np.ndarray


class WindowBatch(NamedTuple):
    """obs (B, W, D) float32; actions (B, W, A) float32; goal (B, D) float32 (obs at the goal step);
    mask (B, W) bool (False on padding); index: the :class:`WindowIndex` they were gathered at."""

    obs: np.ndarray
    actions: np.ndarray
    goal: np.ndarray
    mask: np.ndarray
    index: WindowIndex


class WindowSampler:
    """Uniform over all valid window starts of all episodes (so longer episodes give more windows).

    ``episode_lengths``: (E,) lengths, in the order episodes are concatenated. ``window``: W >= 1.
    ``goal``: "last", "future" (with ``horizon`` >= 0 extra steps after the window's end) or "end".
    ``min_window``: shortest window (default ``window``: fixed length). ``start_fraction``: that share of each
    :meth:`sample` batch starts in the first ``start_span`` steps of a uniformly chosen episode instead (play
    visits the resting start pose, where every evaluation begins, once per episode: 0.5% of 4 h of play).
    """

    def __init__(self, episode_lengths, window: int, goal: str = "last", horizon: int = 0,
                 rng: np.random.Generator | None = None, min_window: int | None = None,
                 start_fraction: float = 0.0, start_span: int = 20):
        lengths = np.asarray(episode_lengths, dtype=np.int64).reshape(-1)
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        if goal not in ("last", "future", "end"):
            raise ValueError(f"goal must be 'last', 'future' or 'end', got {goal!r}")
        min_window = window if min_window is None else int(min_window)
        if not 1 <= min_window <= window:
            raise ValueError(f"min_window must be in [1, window={window}], got {min_window}")
        if horizon < 0:
            raise ValueError(f"horizon must be >= 0, got {horizon}")
        if (lengths < 0).any():
            raise ValueError("episode lengths must be >= 0")
        if not 0.0 <= start_fraction <= 1.0 or start_span < 1:
            raise ValueError(f"start_fraction must be in [0, 1] and start_span >= 1, got {start_fraction}, {start_span}")
        self.start_fraction, self.start_span = float(start_fraction), int(start_span)
        self.window, self.min_window, self.goal_mode, self.horizon = int(window), min_window, goal, int(horizon)
        self.rng = rng if rng is not None else np.random.default_rng()
        self.lengths = lengths
        self.starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        self.ends = self.starts + lengths
        self.n_starts = np.maximum(lengths - self.min_window + 1, 0)  # valid window starts per episode
        self._cum = np.cumsum(self.n_starts)
        self._nonempty = np.flatnonzero(self.n_starts)  # episodes with a valid window (start_fraction draws)
        if self.num_windows == 0:
            raise ValueError(
                f"no episode is at least {min_window} steps long (longest: {int(lengths.max()) if lengths.size else 0}); "
                "use a shorter window or more data"
            )

    @property
    def num_windows(self) -> int:
        return int(self._cum[-1]) if self._cum.size else 0

    def index(self, flat: np.ndarray) -> WindowIndex:
        """Window number(s) in ``[0, num_windows)`` -> indices, with goals drawn from ``self.rng``."""
        flat = np.asarray(flat, dtype=np.int64).reshape(-1)
        if flat.size and (flat.min() < 0 or flat.max() >= self.num_windows):
            raise IndexError(f"window numbers must be in [0, {self.num_windows})")
        ep = np.searchsorted(self._cum, flat, side="right")
        offset = flat - (self._cum[ep] - self.n_starts[ep])
        first = self.starts[ep] + offset
        if self.min_window == self.window:
            length = np.full(flat.size, self.window, dtype=np.int64)
        else:
            longest = np.minimum(self.window, self.ends[ep] - first)
            length = self.min_window + (self.rng.random(flat.size) * (longest - self.min_window + 1)).astype(np.int64)
            length = np.minimum(length, longest)
        ar = np.arange(self.window)[None, :]
        mask = ar < length[:, None]
        steps = first[:, None] + np.minimum(ar, length[:, None] - 1)
        last = steps[:, -1]
        if self.goal_mode == "last":
            goal = last.copy()
        elif self.goal_mode == "end":
            goal = self.ends[ep] - 1
        else:
            hi = np.minimum(last + self.horizon, self.ends[ep] - 1)
            goal = last + (self.rng.random(flat.size) * (hi - last + 1)).astype(np.int64)
            goal = np.minimum(goal, hi)
        return WindowIndex(steps=steps, goal=goal, episode=ep, mask=mask)

    def sample(self, batch_size: int) -> WindowIndex:
        """``batch_size`` windows uniformly at random (with replacement); with ``start_fraction`` > 0, that
        share of them (rounded) from episode starts."""
        flat = self.rng.integers(0, self.num_windows, size=batch_size)
        n_start = int(round(self.start_fraction * batch_size))
        if n_start:
            ep = self._nonempty[self.rng.integers(0, self._nonempty.size, size=n_start)]
            offset = (self.rng.random(n_start) * np.minimum(self.start_span, self.n_starts[ep])).astype(np.int64)
            flat[:n_start] = self._cum[ep] - self.n_starts[ep] + offset
        return self.index(flat)


def gather_windows(obs: np.ndarray, actions: np.ndarray, index: WindowIndex) -> WindowBatch:
    """Gather (B, W, D) obs, (B, W, A) actions and (B, D) goal observations at ``index``."""
    return WindowBatch(obs=obs[index.steps], actions=actions[index.steps], goal=obs[index.goal], mask=index.mask,
                       index=index)
