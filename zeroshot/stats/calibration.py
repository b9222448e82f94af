"""Calibration of softmax classifiers: ECE, NLL, Brier score, and temperature scaling.

Temperature scaling (Guo et al., 2017) divides the logits by one scalar ``T > 0`` chosen to minimise the
NLL on a labelled split; it never changes the argmax. The NLL is convex in ``beta = 1 / T`` (a
log-sum-exp of ``beta * z`` minus a linear term), so a Newton iteration on ``beta`` kept inside a sign-change
bracket of the derivative finds the global minimum; Guo et al. use LBFGS on the same one-dimensional problem.
"""

from __future__ import annotations

import numpy as np

from . import wmetrics as wm

T_MIN, T_MAX = 1e-2, 1e2  # fitted temperatures are clipped to this range (reported when hit)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = np.exp(z - z.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)


def nll(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of the true class under ``softmax(logits)``."""
    z = np.asarray(logits, dtype=np.float64)
    m = z.max(1, keepdims=True)
    lse = (m[:, 0] + np.log(np.exp(z - m).sum(1))) if len(z) else np.zeros(0)
    return float(np.mean(lse - z[np.arange(len(z)), np.asarray(y)]))


def brier(probs: np.ndarray, y: np.ndarray) -> float:
    """Multi-class Brier score: mean over items of ``sum_c (p_c - [y = c])^2``."""
    onehot = np.zeros_like(probs, dtype=np.float64)
    onehot[np.arange(len(probs)), np.asarray(y)] = 1.0
    return float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))


def ece(probs: np.ndarray, y: np.ndarray, n_bins: int = 15) -> float:
    """Top-1 ECE with ``n_bins`` equal-width confidence bins ``(lo, hi]``."""
    return float(wm.ece(np.ones((1, len(y))), y, probs, n_bins)[0])


def calibration_metrics(logits: np.ndarray, y: np.ndarray, n_bins: int = 15) -> dict:
    """``{ece, nll, brier, accuracy, n_bins}`` of ``softmax(logits)``."""
    p = softmax(logits)
    return {
        "ece": ece(p, y, n_bins),
        "nll": nll(logits, y),
        "brier": brier(p, y),
        "accuracy": float(np.mean(p.argmax(1) == np.asarray(y))),
        "n_bins": n_bins,
    }


def _grad_hess(z: np.ndarray, zy: np.ndarray, beta: float) -> tuple[float, float]:
    p = softmax(beta * z)
    ez = (p * z).sum(1)
    return float(np.mean(ez - zy)), float(np.mean((p * z * z).sum(1) - ez**2))


def fit_temperature(logits: np.ndarray, y: np.ndarray, tol: float = 1e-10, max_iter: int = 100) -> dict:
    """The temperature minimising ``NLL(softmax(logits / T))`` on labelled data.

    Args:
        logits: ``(N, C)`` logits (for a CLIP model: ``logit_scale * cosine``).
        y: ``(N,)`` true classes.
        tol: stop when the derivative w.r.t. ``1/T`` is below this.
        max_iter: Newton / bisection steps.

    Returns:
        ``{temperature, nll_before, nll_after, n, clipped}``; ``clipped`` is True when the optimum lies
        outside ``[T_MIN, T_MAX]`` (e.g. separable data wants ``T -> 0``).
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y)
    if z.ndim != 2 or len(z) != len(y) or len(y) == 0:
        raise ValueError(f"fit_temperature needs (N, C) logits and N labels, got {z.shape} and {y.shape}")
    zy = z[np.arange(len(y)), y]
    lo, hi = 1.0 / T_MAX, 1.0 / T_MIN  # bracket in beta = 1 / T
    g_lo, g_hi = _grad_hess(z, zy, lo)[0], _grad_hess(z, zy, hi)[0]
    clipped = False
    if g_lo >= 0:
        beta, clipped = lo, True
    elif g_hi <= 0:
        beta, clipped = hi, True
    else:
        beta = 1.0 if lo < 1.0 < hi else (lo + hi) / 2
        for _ in range(max_iter):
            g, h = _grad_hess(z, zy, beta)
            if abs(g) < tol:
                break
            if g > 0:
                hi = beta
            else:
                lo = beta
            step = beta - g / h if h > 0 else np.nan
            beta = step if lo < step < hi else (lo + hi) / 2  # Newton inside the bracket, else bisect
    return {
        "temperature": float(1.0 / beta),
        "nll_before": nll(z, y),
        "nll_after": nll(z * beta, y),
        "n": int(len(y)),
        "clipped": bool(clipped),
    }
