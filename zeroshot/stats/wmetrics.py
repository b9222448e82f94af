"""The report's metrics as functions of a ``(b, n)`` resample-count matrix ``W`` (one row per resample).

With ``W = ones((1, n))`` each function equals the plain metric of :mod:`zeroshot.metrics` (tested), so
one implementation gives both the point estimate and its bootstrap distribution. Costs are a few
``(b, n)`` passes (matrix products and cumulative sums), never a Python loop over resamples.
"""

from __future__ import annotations

import numpy as np


def _nan_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def mean(W: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Weighted mean of a per-item value (accuracy from 0/1 correctness, recall@K from 0/1 hits)."""
    return W @ np.asarray(values, dtype=np.float64) / W.sum(1)


def confusion(W: np.ndarray, y: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``(b, C, C)`` weighted confusion matrices (rows = true class)."""
    cell = np.asarray(y) * n_classes + np.asarray(pred)
    onehot = np.zeros((len(cell), n_classes * n_classes))
    onehot[np.arange(len(cell)), cell] = 1.0
    return (W @ onehot).reshape(-1, n_classes, n_classes)


def balanced_accuracy(W: np.ndarray, y: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Mean recall over the classes present in each resample."""
    m = confusion(W, y, pred, n_classes)
    support = m.sum(2)
    recall = _nan_div(np.diagonal(m, axis1=1, axis2=2), support)
    return np.nanmean(recall, axis=1)


def macro_f1(W: np.ndarray, y: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Unweighted mean F1 over the classes present (as truth or prediction) in each resample."""
    m = confusion(W, y, pred, n_classes)
    tp = np.diagonal(m, axis1=1, axis2=2)
    fp = m.sum(1) - tp
    fn = m.sum(2) - tp
    f1 = _nan_div(2 * tp, 2 * tp + fp + fn)
    return np.nanmean(f1, axis=1)


PAIR_MATRIX_MAX = 256  # up to this many items on the smaller side, AUC uses the pair matrix (one BLAS product)


def binary_auc(W: np.ndarray, y: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Weighted Mann-Whitney AUC (ties count 1/2); NaN for a resample without both classes.

    When one side is small (one-vs-rest classes), ``num = sum_i w_i (W_neg @ H)_i`` with the pair matrix
    ``H[j, i] = [s_j < s_i] + [s_j = s_i] / 2`` is one matrix product; otherwise a sort and cumulative sums.
    """
    y = np.asarray(y).astype(bool)
    n_pos = int(y.sum())
    if 0 < min(n_pos, len(y) - n_pos) <= PAIR_MATRIX_MAX:
        s = np.asarray(score, dtype=np.float64)
        sp, sn = s[y], s[~y]
        H = (sn[:, None] < sp[None, :]) + 0.5 * (sn[:, None] == sp[None, :])
        Wp, Wn = W[:, y], W[:, ~y]
        return _nan_div(np.einsum("bi,bi->b", Wp, Wn @ H), Wp.sum(1) * Wn.sum(1))
    order = np.argsort(np.asarray(score, dtype=np.float64), kind="stable")
    s = np.asarray(score, dtype=np.float64)[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    Wo = W[:, order]
    pos = y[order]
    P = np.add.reduceat(Wo * pos, starts, axis=1)
    N = np.add.reduceat(Wo * ~pos, starts, axis=1)
    below = np.cumsum(N, axis=1) - N
    return _nan_div((P * (below + 0.5 * N)).sum(1), P.sum(1) * N.sum(1))


def auc(W: np.ndarray, y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Binary AUC of ``s[:, 1] - s[:, 0]`` for C = 2, else macro one-vs-rest AUC (classes with both sides)."""
    y = np.asarray(y)
    if scores.shape[1] == 2:
        return binary_auc(W, y == 1, scores[:, 1] - scores[:, 0])
    per = np.stack([binary_auc(W, y == c, scores[:, c]) for c in range(scores.shape[1]) if np.any(y == c)], 1)
    return np.nanmean(per, axis=1)


def multilabel_auc(W: np.ndarray, Y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Mean per-label AUC over the labels defined in each resample."""
    per = np.stack([binary_auc(W, Y[:, c], scores[:, c]) for c in range(Y.shape[1])], 1)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(per, axis=1)


def ece(W: np.ndarray, y: np.ndarray, probs: np.ndarray, n_bins: int = 15) -> np.ndarray:
    """Top-1 expected calibration error with equal-width bins ``(lo, hi]`` (as ``metrics.reliability``)."""
    conf = probs.max(1)
    correct = (probs.argmax(1) == np.asarray(y)).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    b = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    gap = np.zeros((len(conf), n_bins))
    gap[np.arange(len(conf)), b] = correct - conf
    return np.abs(W @ gap).sum(1) / W.sum(1)


def topk_correct(y: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """0/1 per item: is the true class among the ``k`` highest scores (k capped at C)."""
    if k >= scores.shape[1]:
        return np.ones(len(y))
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return np.any(top == np.asarray(y)[:, None], axis=1).astype(np.float64)
