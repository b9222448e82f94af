"""Two classifiers on the same test items: McNemar's exact test and the paired bootstrap of a difference.

McNemar (1947), exact form: only discordant items carry information; under H0 the ``b`` items A gets right
and B wrong and the ``c`` items the other way round are Binomial(b + c, 1/2), so the two-sided
``p = min(1, 2 * P[X <= min(b, c)])``. The paired bootstrap resamples items once and evaluates both
metrics on the same resample, so the CI of ``metric(A) - metric(B)`` keeps the pairing.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .bootstrap import BootstrapConfig, ci_dict, percentile_interval
from .weights import iter_counts


def binom_cdf_half(k: int, n: int) -> float:
    """``P[X <= k]`` for ``X ~ Binomial(n, 1/2)``, exact (integer arithmetic)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return sum(math.comb(n, i) for i in range(k + 1)) / 2**n


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> dict:
    """McNemar's exact test on per-item correctness of A and B.

    Args:
        correct_a: ``(N,)`` bool, A's prediction is right.
        correct_b: ``(N,)`` bool, B's prediction is right (same items, same order).

    Returns:
        ``{b, c, p}``: A-only correct count, B-only correct count, two-sided exact p-value.
    """
    a = np.asarray(correct_a, dtype=bool)
    bb = np.asarray(correct_b, dtype=bool)
    if a.shape != bb.shape:
        raise ValueError(f"McNemar needs paired predictions, got shapes {a.shape} and {bb.shape}")
    b = int(np.sum(a & ~bb))
    c = int(np.sum(~a & bb))
    p = 1.0 if b + c == 0 else min(1.0, 2.0 * binom_cdf_half(min(b, c), b + c))
    return {"b": b, "c": c, "p": p}


def bootstrap_p(diffs: np.ndarray) -> float:
    """Two-sided bootstrap p-value of ``H0: diff = 0``: twice the smaller tail share beyond 0, +1 smoothed.

    ``p = min(1, 2 * min(1 + #(d <= 0), 1 + #(d >= 0)) / (B + 1))``; it is below alpha exactly when the
    percentile interval at level 1 - alpha (nearly) excludes 0.
    """
    d = diffs[np.isfinite(diffs)]
    if len(d) == 0:
        return float("nan")
    lo = (1 + np.sum(d <= 0)) / (len(d) + 1)
    hi = (1 + np.sum(d >= 0)) / (len(d) + 1)
    return float(min(1.0, 2.0 * min(lo, hi)))


def paired_bootstrap(
    stat_a: Callable[[np.ndarray], np.ndarray],
    stat_b: Callable[[np.ndarray], np.ndarray],
    n: int,
    cfg: BootstrapConfig | None = None,
    strata: np.ndarray | None = None,
) -> dict:
    """CI and p-value of ``stat_a - stat_b`` with both evaluated on the same resamples of ``n`` items.

    Args:
        stat_a: ``(b, n)`` counts -> ``(b,)`` metric of A (see :mod:`.wmetrics`).
        stat_b: the same metric of B.
        n: number of paired items.
        cfg: bootstrap settings.
        strata: optional stratum per item (class) for metrics that need every class.

    Returns:
        ``{a, b, diff: {estimate, low, high, level}, p}``.
    """
    cfg = cfg or BootstrapConfig()
    ones = np.ones((1, n))
    a, b = float(stat_a(ones)[0]), float(stat_b(ones)[0])
    d = np.concatenate([stat_a(w) - stat_b(w) for w in iter_counts(n, cfg.resamples, cfg.seed, strata)])
    lo, hi = percentile_interval(d, cfg.level)
    return {"a": a, "b": b, "diff": ci_dict(a - b, lo, hi, cfg), "p": bootstrap_p(d)}
