"""Data-quality measures of an imitation dataset (play or demos), after Belkhale, Cui and Sadigh, "Data Quality in
Imitation Learning" (NeurIPS 2023): what a learner can fit (the labels' consistency), how much of the state space
the data covers, and how noisy the system looks given a state and an action.

All distances are in the dataset's own z-scored observation space (per-feature mean and std over every row) on
``obs_index`` (default: every feature), and neighbours never come from the query's own episode (adjacent steps of
one episode are trivially close and alike). Estimates use ``n_queries`` random rows against ``n_reference``
random rows (k-nearest neighbours by brute force, torch), so they are seeded and cheap on a laptop.

* ``action_variance``: the mean, over query rows, of the recorded actions' variance (summed over action dims)
  among the query's ``k`` nearest neighbouring states. The paper's proxy for *action divergence*: a demonstrator
  that acts differently in alike states (noise in the labels, hidden timers, several ways to do one thing) gives
  labels no policy of the observation can fit. Lower is more consistent.
* ``state_diversity``: the mean distance from a query state to its ``k``-th nearest neighbour. Higher means the
  data spreads over more of the state space (the paper finds more is not always better).
* ``transition_diversity``: the mean variance (summed over features) of the next-state change ``s' - s`` among
  the ``k`` nearest neighbours in (state, action) space: the noise of the system as the labels see it. DART
  labels (the noise executed, not recorded) raise it on purpose.
* ``object_cells``: 2 cm x 2 cm table cells visited by any object (``*_pos`` fields) in the reference rows, a
  unit-bearing coverage count for the play scene (None if the layout has no object positions). It grows with
  the rows: compare datasets at the same ``n_reference`` (every row of a smaller one is used).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["data_quality", "dataset_quality"]

CELL_M = 0.02


def _knn(query: Any, ref: Any, q_ep: Any, r_ep: Any, k: int) -> tuple[Any, Any]:
    """Indices and distances of each query's k nearest reference rows from other episodes (chunked cdist)."""
    import torch

    out_i, out_d = [], []
    for start in range(0, len(query), 256):
        q = query[start:start + 256]
        d = torch.cdist(q, ref)
        d[q_ep[start:start + 256, None] == r_ep[None, :]] = float("inf")
        dist, idx = torch.topk(d, k, dim=1, largest=False)
        out_i.append(idx)
        out_d.append(dist)
    return torch.cat(out_i), torch.cat(out_d)


def data_quality(obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray, episode_ends: Sequence[int], *,
                 layout: Mapping[str, slice] | None = None, obs_index: Sequence[int] | None = None, k: int = 10,
                 n_queries: int = 2000, n_reference: int = 20000, seed: int = 0) -> dict[str, Any]:
    """The measures above for rows ``obs`` (N, D), ``actions`` (N, A), ``next_obs`` (N, D) stored episode after
    episode (``episode_ends``: exclusive row ends). ``layout`` (field -> slice of D) gives ``object_cells``."""
    import torch

    obs = np.asarray(obs, np.float32)
    actions = np.asarray(actions, np.float32)
    next_obs = np.asarray(next_obs, np.float32)
    ends = np.asarray(episode_ends, np.int64)
    if obs.ndim != 2 or obs.shape != next_obs.shape or len(actions) != len(obs):
        raise ValueError(f"obs and next_obs (N, D) and actions (N, A) must share N, got {obs.shape}, "
                         f"{next_obs.shape} and {actions.shape}")
    if len(ends) < 2 or ends[-1] != len(obs) or np.any(np.diff(ends) < 1):
        raise ValueError(f"episode_ends must rise to the {len(obs)} rows over at least 2 episodes, got {ends[:5]}...")
    if k < 2:
        raise ValueError(f"k must be >= 2 (a variance over neighbours), got {k}")
    idx = np.arange(obs.shape[1]) if obs_index is None else np.asarray(obs_index, np.int64)
    episode = np.searchsorted(ends, np.arange(len(obs)), side="right")
    x = obs[:, idx]
    mean, std = x.mean(0), np.maximum(x.std(0), 1e-6)
    z = (x - mean) / std
    dz = (next_obs[:, idx] - obs[:, idx]) / std
    a_std = np.maximum(actions.std(0), 1e-6)
    za = (actions - actions.mean(0)) / a_std
    rng = np.random.default_rng(seed)
    q = rng.choice(len(obs), size=min(n_queries, len(obs)), replace=False)
    r = rng.choice(len(obs), size=min(n_reference, len(obs)), replace=False)
    if k > len(r):
        raise ValueError(f"k = {k} neighbours from {len(r)} reference rows: give more data or a smaller k")
    t = torch.as_tensor
    q_ep, r_ep = t(episode[q]), t(episode[r])
    nn_s, dist_s = _knn(t(z[q]), t(z[r]), q_ep, r_ep, k)
    nn_sa, _ = _knn(t(np.concatenate([z[q], za[q]], 1)), t(np.concatenate([z[r], za[r]], 1)), q_ep, r_ep, k)
    finite = torch.isfinite(dist_s[:, -1])  # a query with fewer than k rows from other episodes is left out
    acts_r, dz_r = t(actions[r]), t(dz[r])
    action_var = acts_r[nn_s].var(dim=1).sum(-1)[finite]
    trans_var = dz_r[nn_sa].var(dim=1).sum(-1)[finite]
    out: dict[str, Any] = {
        "action_variance": float(action_var.mean()),
        "state_diversity": float(dist_s[finite, -1].mean()),
        "transition_diversity": float(trans_var.mean()),
        "k": k, "n_queries": int(finite.sum()), "n_reference": len(r), "rows": len(obs), "episodes": len(ends),
        "features": len(idx),
    }
    cells: set[tuple[int, int]] = set()
    for name, sl in (layout or {}).items():
        if name.endswith("_pos") and not name.startswith(("eef", "region", "cabinet")):
            xy = obs[r][:, sl][:, :2]
            cells |= set(map(tuple, np.floor(xy / CELL_M).astype(np.int64).tolist()))
    out["object_cells"] = len(cells) if layout and cells else None
    return out


def dataset_quality(data: Any | Sequence[Any], **kwargs: Any) -> dict[str, Any]:
    """:func:`data_quality` of one or several read play-layout files (:func:`~skill_rl.play.dataset.read_play_dataset`;
    play data or task demos, all with the same observation fields) as one dataset. Without ``next_obs`` (a file
    written without it, or read without ``load_next_obs``) the next row of the same episode stands in, and an
    episode's last row is its own next state."""
    files = list(data) if isinstance(data, Sequence) else [data]
    if not files:
        raise ValueError("no dataset given")
    widths = [files[0].obs[k].shape[1] for k in files[0].obs_keys]
    starts = np.cumsum([0, *widths[:-1]])
    layout = {k: slice(int(a), int(a + w)) for k, a, w in zip(files[0].obs_keys, starts, widths, strict=True)}
    obs, next_obs, ends, offset = [], [], [], 0
    for d in files:
        if d.obs_keys != files[0].obs_keys:
            raise ValueError(f"{d.path}: observation keys {d.obs_keys} differ from {files[0].path}'s")
        o = d.flat_obs()
        last = np.asarray(d.episode_ends) - 1
        if d.next_obs is not None:
            n = np.concatenate([d.next_obs[k] for k in d.obs_keys], axis=1)
        else:
            n = np.concatenate([o[1:], o[-1:]])
            n[last] = o[last]
        obs.append(o), next_obs.append(n), ends.append(last + 1 + offset)
        offset += len(o)
    return data_quality(np.concatenate(obs), np.concatenate([d.actions for d in files]), np.concatenate(next_obs),
                        np.concatenate(ends), layout=layout, **kwargs)
