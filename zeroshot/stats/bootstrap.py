"""Percentile bootstrap confidence intervals (Efron & Tibshirani, 1993) over test items.

A statistic is any function ``stat(W) -> (b,)`` or ``(b, k)`` of a ``(b, n)`` resample-count matrix
(:mod:`.wmetrics` has the report's metrics in that form); its value on the data is ``stat(ones((1, n)))``.
The interval is the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the B resampled values;
resamples where the statistic is undefined (NaN) are left out and counted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from .weights import iter_counts

Stat = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class BootstrapConfig:
    """How intervals are computed (recorded in every report that carries them)."""

    resamples: int = 1000  # B
    level: float = 0.95  # two-sided coverage
    seed: int = 0  # numpy default_rng seed of the resample draws

    def __post_init__(self) -> None:
        if self.resamples < 1:
            raise ValueError(f"bootstrap resamples must be >= 1, got {self.resamples}")
        if not 0.0 < self.level < 1.0:
            raise ValueError(f"bootstrap level must lie in (0, 1), got {self.level}")

    def to_dict(self) -> dict:
        """The config as a plain dict (``method: percentile`` added)."""
        return {**asdict(self), "method": "percentile"}


def distribution(stat: Stat, n: int, cfg: BootstrapConfig, strata: np.ndarray | None = None) -> np.ndarray:
    """The ``(B,)`` (or ``(B, k)``) bootstrap distribution of ``stat`` over ``n`` items."""
    return np.concatenate(
        [np.asarray(stat(w), dtype=np.float64) for w in iter_counts(n, cfg.resamples, cfg.seed, strata)]
    )


def percentile_interval(dist: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """NaN-ignoring ``(low, high)`` percentile bounds of a bootstrap distribution along axis 0."""
    a = (1.0 - level) / 2.0
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, hi = np.nanquantile(dist, [a, 1.0 - a], axis=0)
    return lo, hi


def ci_dict(estimate: float, low: float, high: float, cfg: BootstrapConfig, **extra) -> dict:
    """The JSON form of one interval: ``{estimate, low, high, level, resamples, seed, ...}``."""

    def f(v):
        v = float(v)
        return v if np.isfinite(v) else None

    return {"estimate": f(estimate), "low": f(low), "high": f(high), "level": cfg.level, **extra}


def bootstrap_ci(stat: Stat, n: int, cfg: BootstrapConfig | None = None, strata: np.ndarray | None = None) -> dict:
    """Point estimate and percentile CI of a scalar statistic of ``n`` items.

    Args:
        stat: ``(b, n)`` counts -> ``(b,)`` values (see :mod:`.wmetrics`).
        n: number of items (test images, queries ...).
        cfg: resamples, level and seed (defaults: 1000, 0.95, 0).
        strata: optional per-item stratum (class) for stratified resampling.

    Returns:
        ``{estimate, low, high, level, stratified, n_undefined}`` (bounds None when undefined).
    """
    cfg = cfg or BootstrapConfig()
    est = float(np.asarray(stat(np.ones((1, n))))[0])
    dist = distribution(stat, n, cfg, strata)
    lo, hi = percentile_interval(dist, cfg.level)
    return ci_dict(est, lo, hi, cfg, stratified=strata is not None, n_undefined=int(np.isnan(dist).sum()))


def bootstrap_cis(
    stats: dict[str, Stat], n: int, cfg: BootstrapConfig | None = None, strata: np.ndarray | None = None
) -> dict[str, dict]:
    """:func:`bootstrap_ci` of several scalar statistics on the same resamples (drawn once)."""
    cfg = cfg or BootstrapConfig()
    ones = np.ones((1, n))
    est = {k: float(np.asarray(f(ones))[0]) for k, f in stats.items()}
    dists: dict[str, list] = {k: [] for k in stats}
    for w in iter_counts(n, cfg.resamples, cfg.seed, strata):
        for k, f in stats.items():
            dists[k].append(np.asarray(f(w), dtype=np.float64))
    out = {}
    for k in stats:
        d = np.concatenate(dists[k])
        lo, hi = percentile_interval(d, cfg.level)
        out[k] = ci_dict(est[k], lo, hi, cfg, stratified=strata is not None, n_undefined=int(np.isnan(d).sum()))
    return out
