"""Confidence intervals of one dataset's reported metrics (the numbers in ``report.json``'s ``ci`` blocks).

Accuracy, top-5 and ECE resample test images freely; balanced accuracy, macro F1 and AUC resample within
each true class (stratified) so every class keeps its support. Multi-label AUC resamples images (labels
overlap, so there is no class to stratify by). Retrieval recall@K resamples the queries of each direction.
"""

from __future__ import annotations

import numpy as np

from . import wmetrics as wm
from .bootstrap import BootstrapConfig, bootstrap_cis

PLAIN = ("accuracy", "top5", "ece")
STRATIFIED = ("balanced_accuracy", "macro_f1", "auc")


def classification_cis(
    y: np.ndarray,
    cosine: np.ndarray,
    probs: np.ndarray,
    cfg: BootstrapConfig | None = None,
    n_bins: int = 15,
    which: tuple[str, ...] | None = None,
) -> dict[str, dict]:
    """CIs of accuracy, top5, ECE (plain) and balanced accuracy, macro F1, AUC (stratified by class).

    Args:
        y: ``(N,)`` true class indices.
        cosine: ``(N, C)`` scores (argmax = prediction; binary AUC uses ``s1 - s0``).
        probs: ``(N, C)`` probabilities (one-vs-rest AUC for C > 2, ECE).
        cfg: bootstrap settings.
        n_bins: ECE bins.
        which: compute only these metrics (default: all six).

    Returns:
        ``{metric: {estimate, low, high, level, stratified, n_undefined}}``.
    """
    y = np.asarray(y)
    n, n_classes = cosine.shape
    pred = cosine.argmax(1)
    correct = (pred == y).astype(np.float64)
    top5 = wm.topk_correct(y, cosine, 5)
    auc_scores = cosine if n_classes == 2 else probs
    plain = {
        "accuracy": lambda w: wm.mean(w, correct),
        "top5": lambda w: wm.mean(w, top5),
        "ece": lambda w: wm.ece(w, y, probs, n_bins),
    }
    strat = {
        "balanced_accuracy": lambda w: wm.balanced_accuracy(w, y, pred, n_classes),
        "macro_f1": lambda w: wm.macro_f1(w, y, pred, n_classes),
        "auc": lambda w: wm.auc(w, y, auc_scores),
    }
    if which is not None:
        unknown = sorted(set(which) - set(plain) - set(strat))
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; valid: {', '.join([*plain, *strat])}")
        plain = {k: f for k, f in plain.items() if k in which}
        strat = {k: f for k, f in strat.items() if k in which}
    out = bootstrap_cis(plain, n, cfg) if plain else {}
    return {**out, **(bootstrap_cis(strat, n, cfg, strata=y) if strat else {})}


def multilabel_cis(Y: np.ndarray, scores: np.ndarray, cfg: BootstrapConfig | None = None) -> dict[str, dict]:
    """CI of the mean per-label AUC (images resampled) and of each label's AUC."""
    Y = np.asarray(Y)
    stats = {"multilabel_auc": lambda w: wm.multilabel_auc(w, Y, scores)}
    for c in range(Y.shape[1]):
        stats[f"label_{c}"] = lambda w, c=c: wm.binary_auc(w, Y[:, c], scores[:, c])
    res = bootstrap_cis(stats, len(Y), cfg)
    return {
        "multilabel_auc": res.pop("multilabel_auc"),
        "per_label_auc": [res[f"label_{c}"] for c in range(Y.shape[1])],
    }


def recall_cis(ranks: np.ndarray, ks, cfg: BootstrapConfig | None = None) -> dict[str, dict]:
    """CIs of recall@K from the 0-based rank of each query's best correct answer (queries resampled)."""
    ranks = np.asarray(ranks)
    stats = {f"R@{k}": (lambda w, k=k: wm.mean(w, (ranks < k).astype(np.float64))) for k in ks}
    return bootstrap_cis(stats, len(ranks), cfg)
