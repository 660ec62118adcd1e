"""LIBERO Eq. 3 metrics against hand-computed values (including the earliest-best-epoch rule)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from skill_rl.lifelong.metrics import aggregate, best_epoch, compute_metrics, metrics_from_curves

NAN = float("nan")


def _tensor() -> np.ndarray:
    """K=3 tasks, E=3 evaluation points; entries the protocol never measures are NaN."""
    c = np.full((3, 3, 3), NAN)
    c[0, 0] = [0.0, 0.5, 0.5]  # best 0.5 first reached at e=1 (not e=2)
    c[1, 1] = [0.2, 0.8, 0.6]  # best at e=1; the later drop is ignored ("stop at peak")
    c[2, 2] = [1.0, 1.0, 0.0]  # best at e=0
    c[1, 0] = [0.9, 0.25, 0.9]  # only e*_1 = 1 counts
    c[2, 0] = [0.0, 0.7, 0.7]  # only e*_2 = 0 counts
    c[2, 1] = [0.4, 0.1, 0.1]
    return c


def test_hand_computed_k3() -> None:
    m = compute_metrics(_tensor())
    assert m.best_epoch_index.tolist() == [1, 1, 0]
    # FWT_k: mean of the curve clamped at its peak from e* on
    np.testing.assert_allclose(m.fwt_k, [1 / 3, 1.8 / 3, 1.0])
    # NBT_0 = ((0.5 - 0.25) + (0.5 - 0.0)) / 2, NBT_1 = 0.8 - 0.4, last task undefined
    np.testing.assert_allclose(m.nbt_k[:2], [0.375, 0.4])
    assert math.isnan(m.nbt_k[2])
    # AUC_0 = (1/3 + 0.25 + 0) / 3, AUC_1 = (0.6 + 0.4) / 2, AUC_2 = FWT_2
    np.testing.assert_allclose(m.auc_k, [(1 / 3 + 0.25) / 3, 0.5, 1.0])
    assert m.fwt == pytest.approx((1 / 3 + 0.6 + 1.0) / 3)
    assert m.nbt == pytest.approx(0.3875)
    assert m.auc == pytest.approx(((1 / 3 + 0.25) / 3 + 0.5 + 1.0) / 3)
    assert m.final_success == pytest.approx((0.0 + 0.4 + 1.0) / 3)
    np.testing.assert_allclose(np.diag(m.conf), [0.5, 0.8, 1.0])


def test_curves_and_matrix_form_agrees() -> None:
    c = _tensor()
    curves = np.stack([c[k, k] for k in range(3)])
    conf = np.array([[NAN, NAN, NAN], [0.25, NAN, NAN], [0.0, 0.4, NAN]])
    a, b = compute_metrics(c), metrics_from_curves(curves, conf)
    assert (a.fwt, a.nbt, a.auc) == pytest.approx((b.fwt, b.nbt, b.auc))


def test_earliest_best_epoch() -> None:
    assert best_epoch([0.1, 0.3, 0.3, 0.2]) == 1
    assert best_epoch([0.0, 0.0]) == 0
    with pytest.raises(ValueError):
        best_epoch([0.1, NAN])


def test_single_task() -> None:
    m = compute_metrics(np.array([[[0.0, 0.5, 1.0]]]))
    assert m.fwt == pytest.approx(0.5)
    assert m.auc == pytest.approx(0.5)  # AUC of the last (only) task is its FWT
    assert math.isnan(m.nbt)  # nothing learned after it: undefined, not 0
    assert m.final_success == 1.0


def test_all_zeros() -> None:
    m = compute_metrics(np.zeros((4, 4, 11)))
    assert (m.fwt, m.nbt, m.auc, m.final_success) == (0.0, 0.0, 0.0, 0.0)
    assert m.best_epoch_index.tolist() == [0, 0, 0, 0]


def test_forgetting_is_positive_nbt_and_lowers_auc() -> None:
    perfect = np.ones((2, 2, 2))
    forget = perfect.copy()
    forget[1, 0] = 0.0
    assert compute_metrics(perfect).nbt == 0.0
    assert compute_metrics(forget).nbt == 1.0
    assert compute_metrics(forget).auc < compute_metrics(perfect).auc


def test_missing_needed_entry_is_an_error() -> None:
    c = _tensor()
    c[2, 1, 0] = NAN  # measured with the best checkpoint of task 2: needed
    with pytest.raises(ValueError, match="must be measured"):
        compute_metrics(c)
    with pytest.raises(ValueError, match="K, K, E"):
        compute_metrics(np.zeros((2, 3, 4)))


def test_aggregate_mean_and_standard_error() -> None:
    runs = [{"fwt": 0.2, "nbt": 0.1, "auc": 0.3, "final_success": 0.5},
            {"fwt": 0.4, "nbt": None, "auc": 0.5, "final_success": 0.7}]
    agg = aggregate(runs)
    assert agg["fwt"]["mean"] == pytest.approx(0.3)
    assert agg["fwt"]["se"] == pytest.approx(np.std([0.2, 0.4], ddof=1) / math.sqrt(2))
    assert agg["nbt"] == {"mean": 0.1, "se": None, "n": 1}
