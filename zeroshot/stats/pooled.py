"""Several seeds of one method against one baseline on the same test images (few-shot reports).

Images are the unit: a resample draws images, and every seed's prediction for a drawn image comes along
with it. The method's accuracy on a resample is the mean over seeds of its accuracy there, so the seed
spread (reported separately) is not mistaken for image-sampling uncertainty and seeds are not treated as
extra images.
"""

from __future__ import annotations

import numpy as np

from .bootstrap import BootstrapConfig, ci_dict, percentile_interval
from .paired import bootstrap_p
from .weights import iter_counts


def compare_pooled(correct_method: np.ndarray, correct_base: np.ndarray, cfg: BootstrapConfig | None = None) -> dict:
    """Paired bootstrap of ``mean_seeds acc(method) - acc(base)`` resampling images.

    Args:
        correct_method: ``(S, N)`` 0/1, seed ``s``'s prediction of image ``n`` is right (or ``(N,)``).
        correct_base: ``(N,)`` 0/1 for the baseline (e.g. zero-shot, deterministic) on the same images, or
            ``(S, N)`` when the baseline has seeds too.
        cfg: bootstrap settings.

    Returns:
        ``{method, base, diff: {estimate, low, high, level}, p, seeds: [per-seed accuracy], seed_std, n}``.
    """
    cfg = cfg or BootstrapConfig()
    m = np.atleast_2d(np.asarray(correct_method, dtype=np.float64))
    b = np.atleast_2d(np.asarray(correct_base, dtype=np.float64))
    if m.shape[1] != b.shape[1]:
        raise ValueError(f"method and baseline must score the same images, got {m.shape[1]} and {b.shape[1]}")
    n = m.shape[1]
    per_image = m.mean(0) - b.mean(0)  # mean over seeds of each image's correctness difference
    est = float(per_image.mean())
    d = np.concatenate([w @ per_image / n for w in iter_counts(n, cfg.resamples, cfg.seed)])
    lo, hi = percentile_interval(d, cfg.level)
    seeds = m.mean(1)
    return {
        "method": float(seeds.mean()),
        "base": float(b.mean()),
        "diff": ci_dict(est, lo, hi, cfg),
        "p": bootstrap_p(d),
        "seeds": seeds.tolist(),
        "seed_std": float(seeds.std()),
        "n": n,
    }
