"""Classification and calibration metrics in plain numpy (checked against scikit-learn in the tests).

Conventions: ``scores`` are ``(N, C)`` (cosine logits or probabilities; rank metrics only need the order),
``probs`` rows sum to 1. Classes absent from ``y_true`` are skipped where a metric is undefined for them.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import rankdata


def topk_accuracy(y_true: np.ndarray, scores: np.ndarray, k: int = 1) -> float:
    """Fraction of samples whose true class is among the ``k`` highest scores (k capped at C)."""
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < scores.shape[1] else None
    if top is None:
        return 1.0
    return float(np.mean(np.any(top == np.asarray(y_true)[:, None], axis=1)))


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``(C, C)`` counts, rows = true class, columns = predicted class."""
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return m


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Mean recall over the classes present in ``y_true``."""
    m = confusion(y_true, y_pred, n_classes)
    support = m.sum(1)
    present = support > 0
    return float(np.mean(np.diag(m)[present] / support[present]))


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Unweighted mean F1 over the classes present in ``y_true`` or ``y_pred``."""
    m = confusion(y_true, y_pred, n_classes)
    tp = np.diag(m).astype(float)
    fp = m.sum(0) - tp
    fn = m.sum(1) - tp
    present = (m.sum(0) + m.sum(1)) > 0
    return float(np.mean(2 * tp[present] / (2 * tp[present] + fp[present] + fn[present])))


def binary_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC via the Mann-Whitney rank statistic (ties count 1/2); NaN without both classes."""
    y = np.asarray(y).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    r = rankdata(np.asarray(score, dtype=np.float64))  # average ranks over ties
    return float((r[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Binary AUC with ``score = s[:, 1] - s[:, 0]`` for C = 2, else macro one-vs-rest AUC.

    For one-vs-rest pass probabilities (softmax) as ``scores``, as scikit-learn expects.
    """
    y_true = np.asarray(y_true)
    if scores.shape[1] == 2:
        return binary_auc(y_true == 1, scores[:, 1] - scores[:, 0])
    vals = [binary_auc(y_true == c, scores[:, c]) for c in range(scores.shape[1])]
    vals = [v for v in vals if not math.isnan(v)]
    return float(np.mean(vals)) if vals else float("nan")


def multilabel_auc(y: np.ndarray, scores: np.ndarray) -> tuple[float, list[float]]:
    """Per-label binary AUC of an ``(N, C)`` 0/1 target, and their mean over labels where it is defined."""
    per = [binary_auc(y[:, c], scores[:, c]) for c in range(y.shape[1])]
    ok = [v for v in per if not math.isnan(v)]
    return (float(np.mean(ok)) if ok else float("nan")), per


def reliability(y_true: np.ndarray, probs: np.ndarray, n_bins: int = 15) -> dict:
    """Equal-width confidence bins ``(lo, hi]`` of the top-1 probability: ECE and per-bin statistics.

    ``ECE = sum_b |B_b| / N * |acc(B_b) - conf(B_b)|``.
    """
    conf = probs.max(1)
    correct = (probs.argmax(1) == np.asarray(y_true)).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    b = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(b, minlength=n_bins).astype(np.float64)
    sum_conf = np.bincount(b, weights=conf, minlength=n_bins)
    sum_acc = np.bincount(b, weights=correct, minlength=n_bins)
    nz = count > 0
    acc_b = np.where(nz, sum_acc / np.maximum(count, 1), np.nan)
    conf_b = np.where(nz, sum_conf / np.maximum(count, 1), np.nan)
    ece = float(np.sum(np.abs(sum_acc[nz] - sum_conf[nz])) / len(conf))
    return {
        "ece": ece,
        "bin_edges": edges.tolist(),
        "bin_count": count.astype(int).tolist(),
        "bin_accuracy": [None if math.isnan(v) else float(v) for v in acc_b],
        "bin_confidence": [None if math.isnan(v) else float(v) for v in conf_b],
    }


def classification_metrics(y_true: np.ndarray, cosine: np.ndarray, probs: np.ndarray) -> dict:
    """Every single-label metric for one dataset (cosine logits for ranks, probabilities for OvR/ECE)."""
    y_true = np.asarray(y_true)
    n_classes = cosine.shape[1]
    pred = cosine.argmax(1)
    m = confusion(y_true, pred, n_classes)
    support = m.sum(1)
    return {
        "accuracy": float(np.mean(pred == y_true)),
        "top5": topk_accuracy(y_true, cosine, 5),
        "balanced_accuracy": balanced_accuracy(y_true, pred, n_classes),
        "macro_f1": macro_f1(y_true, pred, n_classes),
        "auc": auc(y_true, cosine if n_classes == 2 else probs),
        "ece": reliability(y_true, probs)["ece"],
        "per_class_accuracy": [float(m[c, c] / support[c]) if support[c] else None for c in range(n_classes)],
        "per_class_support": support.tolist(),
        "confusion": m.tolist(),
    }
