"""Holm's step-down correction (Holm, 1979) and the better / tie / worse verdict of a comparison.

Holm: sort the m p-values ascending, ``p_adj(i) = max_{j <= i} min(1, (m - j + 1) p(j))``; rejecting
``p_adj < alpha`` controls the family-wise error rate at alpha without independence assumptions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values in the input order; NaN / None stay NaN and do not count towards m."""
    vals = [float("nan") if p is None else float(p) for p in pvalues]
    idx = [i for i, p in enumerate(vals) if not math.isnan(p)]
    for i in idx:
        if not 0.0 <= vals[i] <= 1.0:
            raise ValueError(f"p-values must lie in [0, 1], got {vals[i]}")
    order = sorted(idx, key=lambda i: vals[i])
    m = len(order)
    out = [float("nan")] * len(vals)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * vals[i]))
        out[i] = running
    return out


def verdict(diff: float, p_adjusted: float, alpha: float = 0.05) -> str:
    """``better`` / ``worse`` when the (corrected) p-value is below alpha, else ``tie``."""
    if p_adjusted is None or math.isnan(p_adjusted) or p_adjusted >= alpha or diff == 0:
        return "tie"
    return "better" if diff > 0 else "worse"
