"""Observation history: the last H frames a policy decides on, the same way in training and when acting.

At an episode's start there are fewer than H frames; both :func:`history_index` (training) and
:class:`ObsHistory` (acting) pad by repeating the episode's first frame, so the policy sees a resting robot
rather than zeros, and a history never reaches into another episode.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["ObsHistory", "history_index"]


def history_index(starts: Sequence[int] | np.ndarray, ends: Sequence[int] | np.ndarray, history: int) -> np.ndarray:
    """(N, H) int64 row indices of each step's frames, oldest first, for episodes ``[starts[i], ends[i])`` of a
    table of N rows (the episodes must cover rows 0..N-1). Row t of an episode starting at s gets
    ``max(t - H + 1 .. t, s)``: padded with the first frame, never an index before s."""
    if history < 1:
        raise ValueError(f"history must be >= 1, got {history}")
    starts_a, ends_a = np.asarray(starts, np.int64), np.asarray(ends, np.int64)
    n = int(ends_a.max()) if ends_a.size else 0
    hist = np.full((n, history), -1, np.int64)
    back = np.arange(history - 1, -1, -1)[None]
    for s, e in zip(starts_a, ends_a, strict=True):
        t = np.arange(s, e)
        hist[s:e] = np.maximum(t[:, None] - back, s)
    if (hist < 0).any():
        raise ValueError("the episodes do not cover every row")
    return hist


class ObsHistory:
    """The last ``history`` observations of N parallel episodes, for acting.

    ``push(obs)`` with obs (D,) or (N, D) returns the stacked history (H, D) or (N, H, D), oldest first. The
    first push after :meth:`reset` fills the history with that frame (the same padding as
    :func:`history_index`); :meth:`reset` must be called at every episode start.
    """

    def __init__(self, history: int) -> None:
        if history < 1:
            raise ValueError(f"history must be >= 1, got {history}")
        self.history = int(history)
        self._frames: np.ndarray | None = None

    def reset(self) -> None:
        self._frames = None

    def push(self, obs: np.ndarray) -> np.ndarray:
        o = np.asarray(obs, np.float32)
        single = o.ndim == 1
        o2 = o[None] if single else o
        if self._frames is None or self._frames.shape[0] != o2.shape[0] or self._frames.shape[2] != o2.shape[1]:
            self._frames = np.repeat(o2[:, None], self.history, axis=1)
        else:
            self._frames = np.concatenate([self._frames[:, 1:], o2[:, None]], axis=1)
        out = self._frames.copy()
        return out[0] if single else out
