"""CheXpert-style per-label protocol: ROC curve, thresholds chosen on validation data, binary metrics.

Thresholds: Youden's J (Youden, 1950) maximises ``sensitivity + specificity - 1`` on val; the
target-sensitivity rule takes the highest threshold whose val sensitivity reaches the target (the most
specific operating point that still finds that share of positives). At a threshold ``t`` an item is
positive when ``score >= t``. MCC is Matthews' correlation of the 2x2 table (0 when a margin is empty).
"""

from __future__ import annotations

import math

import numpy as np


def roc_curve(y: np.ndarray, score: np.ndarray) -> dict:
    """ROC points at every distinct score used as threshold (descending), starting at (0, 0).

    Returns:
        ``{fpr, tpr, thresholds}`` lists (``thresholds[0] = inf``).
    """
    y = np.asarray(y).astype(bool)
    s = np.asarray(score, dtype=np.float64)
    if y.all() or not y.any():
        raise ValueError("a ROC curve needs both positives and negatives")
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(s[1:] != s[:-1]), len(s) - 1]  # last index of each tie group
    tp = np.cumsum(y)[last]
    fp = np.cumsum(~y)[last]
    return {
        "fpr": np.r_[0.0, fp / (~y).sum()].tolist(),
        "tpr": np.r_[0.0, tp / y.sum()].tolist(),
        "thresholds": [math.inf, *s[last].tolist()],
    }


def youden_threshold(y: np.ndarray, score: np.ndarray) -> float:
    """The threshold maximising ``TPR - FPR`` (the first, i.e. highest, on ties)."""
    r = roc_curve(y, score)
    j = np.asarray(r["tpr"]) - np.asarray(r["fpr"])
    return float(r["thresholds"][int(np.argmax(j))])


def sensitivity_threshold(y: np.ndarray, score: np.ndarray, target: float) -> float:
    """The highest threshold whose sensitivity is at least ``target`` (in (0, 1])."""
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target sensitivity must lie in (0, 1], got {target}")
    r = roc_curve(y, score)
    tpr = np.asarray(r["tpr"])
    return float(r["thresholds"][int(np.argmax(tpr >= target - 1e-12))])


def binary_metrics(y: np.ndarray, score: np.ndarray, threshold: float) -> dict:
    """Counts, sensitivity, specificity, precision, F1 and MCC of ``score >= threshold``."""
    y = np.asarray(y).astype(bool)
    p = np.asarray(score) >= threshold
    tp, fp = int(np.sum(p & y)), int(np.sum(p & ~y))
    fn, tn = int(np.sum(~p & y)), int(np.sum(~p & ~y))

    def div(a, b):
        return a / b if b else float("nan")

    den = math.sqrt(float(tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return {
        "threshold": float(threshold),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "sensitivity": div(tp, tp + fn),
        "specificity": div(tn, tn + fp),
        "precision": div(tp, tp + fp),
        "f1": div(2 * tp, 2 * tp + fp + fn),
        "mcc": (tp * tn - fp * fn) / den if den else 0.0,
    }


def sensitivity_at_specificity(y: np.ndarray, score: np.ndarray, specificity: float) -> float:
    """The highest sensitivity among thresholds whose specificity is at least ``specificity``."""
    r = roc_curve(y, score)
    fpr, tpr = np.asarray(r["fpr"]), np.asarray(r["tpr"])
    ok = (1.0 - fpr) >= specificity - 1e-12
    return float(tpr[ok].max())


def pos_neg_scores(cos_pos: np.ndarray, cos_neg: np.ndarray, scale: float) -> np.ndarray:
    """CheXzero scoring: ``softmax(scale * [cos(pos prompt), cos(neg prompt)])[0]`` per item and label."""
    a, b = scale * np.asarray(cos_pos, dtype=np.float64), scale * np.asarray(cos_neg, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(b - a))
