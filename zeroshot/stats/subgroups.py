"""Subgroup and fairness statistics: per-group metrics with CIs, the largest gap and its permutation test,
equal-opportunity / equalised-odds differences at a threshold, per-group ECE.

Gap = max - min of the per-group metric over groups with at least ``min_size`` items. Its p-value comes
from a permutation test (group labels shuffled over the items, B times; Good, 2005): under "the metric does
not depend on the group" every relabelling is equally likely, so ``p = (1 + #(gap_perm >= gap)) / (B + 1)``.
For a binary task at a threshold: equal opportunity difference = max - min of the per-group TPR; equalised
odds difference = max(TPR gap, FPR gap) (Hardt et al., 2016).
"""

from __future__ import annotations

import numpy as np

from . import wmetrics as wm
from .bootstrap import BootstrapConfig, bootstrap_ci


def _codes(groups) -> tuple[list[str], np.ndarray]:
    names, codes = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    return names.tolist(), codes


def permutation_gap_test(values: np.ndarray, groups, resamples: int = 1000, seed: int = 0, min_size: int = 1) -> dict:
    """Largest gap in the per-group mean of ``values`` and its permutation p-value (vectorised).

    Args:
        values: ``(N,)`` per-item value (0/1 correctness, a per-item loss ...).
        groups: ``(N,)`` group of each item.
        resamples: permutations B.
        seed: seed of the permutations.
        min_size: groups smaller than this are left out.

    Returns:
        ``{gap, p, groups: {name: mean}, resamples}``.
    """
    names, codes = _codes(groups)
    v = np.asarray(values, dtype=np.float64)
    keep_groups = np.flatnonzero(np.bincount(codes, minlength=len(names)) >= min_size)
    keep = np.isin(codes, keep_groups)
    names = [names[g] for g in keep_groups]
    codes = np.searchsorted(keep_groups, codes[keep])
    v = v[keep]
    if len(names) < 2:
        raise ValueError("a gap needs at least two groups of the minimum size")
    k = len(names)
    size = np.bincount(codes, minlength=k).astype(np.float64)
    means = np.bincount(codes, weights=v, minlength=k) / size
    gap = float(means.max() - means.min())
    rng = np.random.default_rng(seed)
    perm = rng.permuted(np.broadcast_to(codes, (resamples, len(codes))), axis=1)
    flat = (perm + (np.arange(resamples) * k)[:, None]).ravel()
    pm = np.bincount(flat, weights=np.tile(v, resamples), minlength=resamples * k).reshape(resamples, k) / size
    gaps = pm.max(1) - pm.min(1)
    p = float((1 + np.sum(gaps >= gap - 1e-12)) / (resamples + 1))
    return {"gap": gap, "p": p, "groups": dict(zip(names, means.tolist())), "resamples": resamples}


def rates_at_threshold(y: np.ndarray, score: np.ndarray, threshold: float) -> tuple[float, float]:
    """``(TPR, FPR)`` of ``score >= threshold`` against 0/1 ``y`` (NaN without positives / negatives)."""
    y = np.asarray(y).astype(bool)
    pred = np.asarray(score) >= threshold
    tpr = float(pred[y].mean()) if y.any() else float("nan")
    fpr = float(pred[~y].mean()) if (~y).any() else float("nan")
    return tpr, fpr


def subgroup_report(
    groups,
    y: np.ndarray,
    pred: np.ndarray,
    probs: np.ndarray | None = None,
    *,
    cfg: BootstrapConfig | None = None,
    binary_score: np.ndarray | None = None,
    threshold: float | None = None,
    min_size: int = 10,
) -> dict:
    """Per-group accuracy (CI), ECE, the accuracy gap with its permutation p, and binary fairness gaps.

    Args:
        groups: ``(N,)`` group of each item (e.g. the ``site`` attribute).
        y: ``(N,)`` true class.
        pred: ``(N,)`` predicted class.
        probs: optional ``(N, C)`` probabilities (per-group ECE).
        cfg: bootstrap settings (CIs and the number of permutations).
        binary_score: optional ``(N,)`` score of the positive class (``y`` then 0/1) for TPR / FPR gaps.
        threshold: decision threshold on ``binary_score`` (chosen on validation data by the caller).
        min_size: groups with fewer items are listed but not compared.

    Returns:
        ``{groups: {name: {n, accuracy (CI), ece, tpr, fpr}}, accuracy_gap: {gap, p}, eod, eq_odds}``.
    """
    cfg = cfg or BootstrapConfig()
    names, codes = _codes(groups)
    y, pred = np.asarray(y), np.asarray(pred)
    correct = (pred == y).astype(np.float64)
    per: dict[str, dict] = {}
    for g, name in enumerate(names):
        sel = codes == g
        row: dict = {"n": int(sel.sum())}
        row["accuracy"] = bootstrap_ci(lambda w, c=correct[sel]: wm.mean(w, c), int(sel.sum()), cfg)
        if probs is not None:
            row["ece"] = float(wm.ece(np.ones((1, int(sel.sum()))), y[sel], probs[sel])[0])
        if binary_score is not None and threshold is not None:
            row["tpr"], row["fpr"] = rates_at_threshold(y[sel], binary_score[sel], threshold)
        per[name] = row
    out: dict = {"groups": per, "min_size": min_size}
    big = [n for n in names if per[n]["n"] >= min_size]
    if len(big) >= 2:
        out["accuracy_gap"] = permutation_gap_test(correct, groups, cfg.resamples, cfg.seed, min_size)
        if binary_score is not None and threshold is not None:
            tprs = [per[n]["tpr"] for n in big if np.isfinite(per[n]["tpr"])]
            fprs = [per[n]["fpr"] for n in big if np.isfinite(per[n]["fpr"])]
            eod = max(tprs) - min(tprs) if len(tprs) >= 2 else float("nan")
            fgap = max(fprs) - min(fprs) if len(fprs) >= 2 else float("nan")
            out["equal_opportunity_difference"] = eod
            out["equalised_odds_difference"] = float(np.nanmax([eod, fgap]))
    return out
