"""LIBERO's lifelong-learning metrics (Liu et al. 2023, Eq. 3): FWT, NBT and AUC from a success tensor.

Notation (tasks and epochs 0-based here, 1-based in the paper): ``c[i, j, e]`` is the success rate on task
``j`` after learning tasks ``0..i-1`` and ``e`` evaluation points (epochs ``0, E, 2E, ...``) on task ``i``.

* ``c_ii = max_e c[i, i, e]``, reached first at the *earliest* best evaluation point ``e*_i``; the agent is
  assumed to stop learning there ("stop at peak"), so the learning curve is clamped: ``c[i, i, e] = c_ii`` for
  ``e >= e*_i``.
* ``c_ij`` for ``j != i`` is measured with the checkpoint of ``e*_i`` (the protocol only evaluates other
  tasks there), i.e. ``c_ij = c[i, j, e*_i]``.
* ``FWT_k = mean_e c[k, k, e]`` over the (clamped) curve (the paper's ``1/11 sum_{e in 0..50}``);
* ``NBT_k = 1/(K-k-1) sum_{tau > k} (c_kk - c_tau,k)`` (0-based; undefined for the last task, which no later
  task can make forget: reported as NaN and left out of the average; NBT of a 1-task run is NaN);
* ``AUC_k = 1/(K-k) (FWT_k + sum_{tau > k} c_tau,k)`` (0-based; the last task's AUC is its FWT).
Each is averaged over ``k``. :func:`aggregate` gives mean and standard error over seeds.

Numpy only: the metrics are checked by hand-computed tests and must not depend on the training code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["LifelongMetrics", "aggregate", "best_epoch", "compute_metrics", "metrics_from_curves"]


@dataclass(frozen=True)
class LifelongMetrics:
    """Per-task and averaged FWT/NBT/AUC of one run (one seed, one task order).

    ``conf`` is the K x K matrix ``c_ij`` (row i: after learning task i, with its best checkpoint; entries
    above the diagonal are the not-yet-learned tasks, NaN when not measured). ``curves`` is K x E, the
    measured learning curve ``c[k, k, e]`` (not clamped); ``best_epoch_index`` is ``e*_k``.
    """

    fwt_k: np.ndarray
    nbt_k: np.ndarray
    auc_k: np.ndarray
    fwt: float
    nbt: float
    auc: float
    final_success: float  # mean success over all K tasks after learning the last one (c[K-1, :])
    conf: np.ndarray
    curves: np.ndarray
    best_epoch_index: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and floats (NaN as None) for JSON."""
        def clean(x: Any) -> Any:
            if isinstance(x, np.ndarray):
                return [clean(v) for v in x.tolist()]
            if isinstance(x, list):
                return [clean(v) for v in x]
            if isinstance(x, float | np.floating):
                return None if not math.isfinite(float(x)) else float(x)
            return x

        return {"fwt": clean(self.fwt), "nbt": clean(self.nbt), "auc": clean(self.auc),
                "final_success": clean(self.final_success), "fwt_k": clean(self.fwt_k), "nbt_k": clean(self.nbt_k),
                "auc_k": clean(self.auc_k), "conf": clean(self.conf), "curves": clean(self.curves),
                "best_epoch_index": [int(v) for v in self.best_epoch_index]}


def best_epoch(curve: Sequence[float] | np.ndarray) -> int:
    """Index of the earliest maximum of a learning curve (LIBERO keeps a checkpoint only on strict improvement)."""
    c = np.asarray(curve, dtype=float)
    if c.ndim != 1 or c.size == 0:
        raise ValueError(f"a learning curve must be a non-empty 1-d sequence, got shape {c.shape}")
    if not np.isfinite(c).all():
        raise ValueError(f"learning curve contains NaN/inf: {c.tolist()}")
    return int(np.argmax(c))  # argmax returns the first occurrence of the maximum


def metrics_from_curves(curves: np.ndarray | Sequence[Sequence[float]],
                        conf: np.ndarray | Sequence[Sequence[float]]) -> LifelongMetrics:
    """FWT/NBT/AUC from the learning curves ``curves[k, e] = c[k, k, e]`` and the matrix ``conf[i, j] = c_ij``
    measured with task i's best checkpoint (only ``j < i`` is used; the diagonal is taken from the curves).

    Curves of different lengths are not supported: every task has the same number of evaluation points.
    """
    curves = np.asarray(curves, dtype=float)
    conf = np.array(conf, dtype=float)  # copy: the diagonal is overwritten
    if curves.ndim != 2 or curves.shape[0] == 0 or curves.shape[1] == 0:
        raise ValueError(f"curves must be (K, E) with K, E >= 1, got shape {curves.shape}")
    k_tasks = curves.shape[0]
    if conf.shape != (k_tasks, k_tasks):
        raise ValueError(f"conf must be ({k_tasks}, {k_tasks}) to match {k_tasks} curves, got {conf.shape}")
    stars = np.array([best_epoch(c) for c in curves], dtype=int)
    peak = curves[np.arange(k_tasks), stars]
    clamped = curves.copy()
    for k, s in enumerate(stars):
        clamped[k, s:] = peak[k]
    for i in range(k_tasks):
        conf[i, i] = peak[i]
        below = conf[i, :i]
        if not np.isfinite(below).all():
            raise ValueError(f"conf[{i}, :{i}] (earlier tasks after learning task {i}) must be measured, "
                             f"got {below.tolist()}")
    fwt_k = clamped.mean(axis=1)
    nbt_k = np.full(k_tasks, np.nan)
    auc_k = np.empty(k_tasks)
    for k in range(k_tasks):
        later = conf[k + 1:, k]
        if later.size:
            nbt_k[k] = float(np.mean(peak[k] - later))
        auc_k[k] = (fwt_k[k] + later.sum()) / (later.size + 1)
    nbt = float(np.mean(nbt_k[:-1])) if k_tasks > 1 else float("nan")
    return LifelongMetrics(fwt_k=fwt_k, nbt_k=nbt_k, auc_k=auc_k, fwt=float(fwt_k.mean()), nbt=nbt,
                           auc=float(auc_k.mean()), final_success=float(np.mean(conf[-1])), conf=conf,
                           curves=curves, best_epoch_index=stars)


def compute_metrics(c: np.ndarray | Sequence[Any]) -> LifelongMetrics:
    """FWT/NBT/AUC from the full success tensor ``c[i, j, e]`` (shape K x K x E).

    Only ``c[i, i, :]`` and ``c[i, j, e*_i]`` for ``j < i`` are read (other entries may be NaN: the protocol
    does not measure them); a missing needed entry is an error.
    """
    c = np.asarray(c, dtype=float)
    if c.ndim != 3 or c.shape[0] != c.shape[1] or c.shape[0] == 0 or c.shape[2] == 0:
        raise ValueError(f"the success tensor must be (K, K, E) with K, E >= 1, got shape {c.shape}")
    k_tasks = c.shape[0]
    curves = c[np.arange(k_tasks), np.arange(k_tasks), :]
    conf = np.full((k_tasks, k_tasks), np.nan)
    for i in range(k_tasks):
        conf[i] = c[i, :, best_epoch(curves[i])]
    return metrics_from_curves(curves, conf)


def _mean_se(values: Sequence[float]) -> dict[str, float | int | None]:
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if v.size == 0:
        return {"mean": None, "se": None, "n": 0}
    se = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else None
    return {"mean": float(v.mean()), "se": se, "n": int(v.size)}


def aggregate(runs: Sequence[LifelongMetrics | Mapping[str, Any]]) -> dict[str, dict[str, float | int | None]]:
    """Mean and standard error (sample std / sqrt(n)) of FWT, NBT, AUC and final success over seeds.

    NaN values (NBT of a 1-task run) are skipped; ``se`` is None with fewer than two values.
    """
    if not runs:
        raise ValueError("aggregate needs at least one run")
    out: dict[str, dict[str, float | int | None]] = {}
    for key in ("fwt", "nbt", "auc", "final_success"):
        vals = []
        for r in runs:
            v = getattr(r, key) if isinstance(r, LifelongMetrics) else r.get(key)
            vals.append(float("nan") if v is None else float(v))
        out[key] = _mean_se(vals)
    return out
