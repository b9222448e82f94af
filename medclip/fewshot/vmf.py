"""von Mises–Fisher estimation on S^{d−1} in float64 NumPy/SciPy (spec §5.6; golden values G18-G21).

Used once per class at setup by ``vmfcoop_ours``; nothing here is differentiated. ``scipy.special.ive``
underflows for large orders and small κ (d = 512, κ ≲ 20); those cases use a continued fraction for the
Bessel ratio and a log-space power series for ``log I_v``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gammaln, ive

_TINY = 1e-300


def _ratio_cf(v: float, kappa: float, tol: float = 1e-16, max_iter: int = 100000) -> float:
    """``I_v(κ)/I_{v−1}(κ)`` = Gauss continued fraction ``1/(2v/κ + 1/(2(v+1)/κ + …))`` (Lentz)."""
    tiny = 1e-300
    f = tiny
    C, D = f, 0.0
    for j in range(max_iter):
        b = 2.0 * (v + j) / kappa
        D = b + D
        D = tiny if D == 0 else D
        C = b + 1.0 / C
        C = tiny if C == 0 else C
        D = 1.0 / D
        delta = C * D
        f *= delta
        if abs(delta - 1.0) < tol:
            break
    # starting from f = 0 (tiny), the recursion evaluates 0 + 1/(b0 + 1/(b1 + ...)) = the ratio itself
    return f


def bessel_ratio(d: int, kappa: float) -> float:
    """``A_d(κ) = I_{d/2}(κ) / I_{d/2−1}(κ)``."""
    num, den = ive(d / 2.0, kappa), ive(d / 2.0 - 1.0, kappa)
    if num > _TINY and den > _TINY and np.isfinite(num) and np.isfinite(den):
        return float(num / den)
    return _ratio_cf(d / 2.0, kappa)


def log_bessel_i(v: float, kappa: float, max_terms: int = 100000) -> float:
    """``log I_v(κ)``: ``log ive + κ``, or the power series ``Σ (κ/2)^{2m+v}/(m! Γ(m+v+1))`` in log space."""
    val = ive(v, kappa)
    if val > _TINY and np.isfinite(val):
        return float(math.log(val) + kappa)
    half = math.log(kappa / 2.0)
    terms = []
    for m in range(max_terms):
        t = (2 * m + v) * half - gammaln(m + 1) - gammaln(m + v + 1)
        terms.append(t)
        if m > kappa and t < terms[0] - 50 and t < max(terms) - 50:
            break
    terms = np.asarray(terms)
    top = terms.max()
    return float(top + math.log(np.exp(terms - top).sum()))


def log_normalizer(d: int, kappa: float) -> float:
    """``log C_d(κ) = (d/2−1) log κ − (d/2) log 2π − log I_{d/2−1}(κ)``."""
    return (d / 2.0 - 1.0) * math.log(kappa) - (d / 2.0) * math.log(2 * math.pi) - log_bessel_i(d / 2.0 - 1.0, kappa)


def mean_direction(x: np.ndarray) -> tuple[np.ndarray, float]:
    """``(μ̂, R̄)`` of unit vectors ``x`` (n, d); needs at least two distinct vectors. R̄ is clipped."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(np.unique(np.round(x, 12), axis=0)) < 2:
        raise ValueError("vMF fitting needs at least two distinct unit vectors")
    s = x.sum(0)
    norm = float(np.linalg.norm(s))
    r_bar = float(np.clip(norm / len(x), 1e-12, 1 - 1e-9))
    return s / max(norm, 1e-300), r_bar


def banerjee_kappa(r_bar: float, d: int) -> float:
    """Banerjee et al. (2005) approximation ``R̄(d − R̄²)/(1 − R̄²)``."""
    return r_bar * (d - r_bar**2) / (1 - r_bar**2)


def estimate_kappa(r_bar: float, d: int, newton_steps: int = 2) -> float:
    """Concentration κ solving ``A_d(κ) = R̄``: Banerjee start, then Newton steps (Sra 2012), clamped."""
    kappa = banerjee_kappa(r_bar, d)
    for _ in range(newton_steps):
        a = bessel_ratio(d, kappa)
        step = (a - r_bar) / (1 - a * a - (d - 1) / kappa * a)
        new = float(np.clip(kappa - step, 1e-6, 1e7))
        done = abs(new - kappa) < 1e-10 * kappa
        kappa = new
        if done:
            break
    return float(np.clip(kappa, 1e-6, 1e7))


def fit_vmf(x: np.ndarray, newton_steps: int = 2) -> tuple[np.ndarray, float]:
    """Fit ``(μ, κ)`` to unit vectors ``x`` (n, d)."""
    mu, r_bar = mean_direction(x)
    return mu, estimate_kappa(r_bar, x.shape[1], newton_steps)
