"""T3 merge coefficients: Jensen-Shannon divergence of the two models' predictions -> lambda.

``lambda(x) = lambda_min + (lambda_max - lambda_min) * sigmoid(gamma * JS(p_b(x) || p_e(x)))`` and the merged
weights are ``theta(x) = lambda * theta_base + (1 - lambda) * theta_expert``: higher disagreement moves the
model toward the **base** (generalist). Everything is computed in float64. See
``shared/specs/t3_merging.md`` sections 2-3 for the formula and the defaults of every unknown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..config import ConfigError

_LOG_BASES = {"e": 1.0, "2": math.log(2.0)}


@dataclass
class CoefConfig:
    """Every knob of the T3 coefficient (spec section 3); all are logged with each run."""

    lambda_min: float = 0.0  # lambda for identical predictions is lambda_min + (max - min) / 2
    lambda_max: float = 1.0  # upper end of the sigmoid's range
    gamma: float = 0.5  # sigmoid sharpness; 0 gives a constant lambda
    js_log_base: str = "e"  # "e" (JS_max = ln 2) or "2" (JS_max = 1)
    js_eps: float = 1e-8  # clamp inside the logs only
    coef_target: str = "base"  # "base": lambda weights the base model; "expert": DaWin convention (ablation)
    allow_extrapolation: bool = False  # permit lambda_min / lambda_max outside [0, 1]
    prob_mode: str = "scaled"  # scaled: softmax(s*cos); unscaled: softmax(cos); temperature: softmax(cos/T)
    prob_temperature: float = 1.0  # T for prob_mode=temperature

    def validate(self) -> None:
        """Raise :class:`ConfigError` on an invalid combination."""
        if self.js_log_base not in _LOG_BASES:
            raise ConfigError(f"js_log_base must be 'e' or '2', got {self.js_log_base!r}")
        if self.coef_target not in ("base", "expert"):
            raise ConfigError(f"coef_target must be 'base' or 'expert', got {self.coef_target!r}")
        if self.prob_mode not in ("scaled", "unscaled", "temperature"):
            raise ConfigError(f"prob_mode must be scaled, unscaled or temperature, got {self.prob_mode!r}")
        if self.gamma < 0:
            raise ConfigError(f"gamma must be >= 0, got {self.gamma}")
        if not self.js_eps > 0:
            raise ConfigError(f"js_eps must be > 0, got {self.js_eps}")
        if self.prob_mode == "temperature" and not self.prob_temperature > 0:
            raise ConfigError(f"prob_temperature must be > 0, got {self.prob_temperature}")
        if self.lambda_min > self.lambda_max:
            raise ConfigError(f"lambda_min ({self.lambda_min}) > lambda_max ({self.lambda_max})")
        inside = 0.0 <= self.lambda_min and self.lambda_max <= 1.0
        if not inside and not self.allow_extrapolation:
            raise ConfigError(
                f"lambda range [{self.lambda_min}, {self.lambda_max}] leaves [0, 1]; "
                "set allow_extrapolation: true to permit it"
            )

    @property
    def js_max(self) -> float:
        """Largest possible JS in the configured log base."""
        return math.log(2.0) / _LOG_BASES[self.js_log_base]

    def lambda_range(self) -> tuple[float, float]:
        """Theoretical ``[low, high]`` of lambda (spec section 2, 'Range'), before ``coef_target``."""
        delta = self.lambda_max - self.lambda_min
        return self.lambda_min + delta / 2, self.lambda_min + delta * _sigmoid(self.gamma * self.js_max)


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def _check_probs(p: torch.Tensor, name: str) -> torch.Tensor:
    p = torch.as_tensor(p, dtype=torch.float64)
    if p.ndim == 1:
        p = p.unsqueeze(0)
    if p.ndim != 2:
        raise ValueError(f"{name}: expected (N, K) probabilities, got shape {tuple(p.shape)}")
    if not torch.isfinite(p).all() or (p < 0).any():
        raise ValueError(f"{name}: probabilities must be finite and non-negative")
    bad = ((p.sum(-1) - 1.0).abs() > 1e-5).nonzero().flatten()
    if len(bad):
        raise ValueError(f"{name}: row {int(bad[0])} sums to {float(p[bad[0]].sum()):.6f}, not 1 (+-1e-5)")
    return p


def js_divergence(p: torch.Tensor, q: torch.Tensor, *, log_base: str = "e", eps: float = 1e-8) -> torch.Tensor:
    """Row-wise Jensen-Shannon divergence in float64 (spec section 2).

    ``KL(a||m) = sum_k a_k (log max(a_k, eps) - log max(m_k, eps))`` with ``m = (p + q) / 2``; terms with
    ``a_k = 0`` contribute exactly 0. Symmetric bit for bit in ``p, q``.

    Args:
        p: ``(N, K)`` or ``(K,)`` probabilities.
        q: same shape as ``p``.
        log_base: ``"e"`` or ``"2"``.
        eps: clamp inside the logs.

    Returns:
        ``(N,)`` float64 tensor.
    """
    if log_base not in _LOG_BASES:
        raise ValueError(f"log_base must be 'e' or '2', got {log_base!r}")
    p, q = _check_probs(p, "p"), _check_probs(q, "q")
    if p.shape != q.shape:
        raise ValueError(f"p and q differ in shape: {tuple(p.shape)} vs {tuple(q.shape)}")
    m = (p + q) / 2
    log_m = m.clamp_min(eps).log()

    def kl(a: torch.Tensor) -> torch.Tensor:
        return (a * (a.clamp_min(eps).log() - log_m)).sum(-1)

    return 0.5 * (kl(p) + kl(q)) / _LOG_BASES[log_base]


def lambda_from_js(js: torch.Tensor, cfg: CoefConfig) -> torch.Tensor:
    """Weight on the **base** model for each JS value (``coef_target=expert`` flips it: ablation)."""
    js = torch.as_tensor(js, dtype=torch.float64)
    lam = cfg.lambda_min + (cfg.lambda_max - cfg.lambda_min) * torch.sigmoid(cfg.gamma * js)
    return 1.0 - lam if cfg.coef_target == "expert" else lam


def probabilities(cos: torch.Tensor, logit_scale: float | torch.Tensor, cfg: CoefConfig) -> torch.Tensor:
    """The per-sample class distribution used for JS: ``softmax`` of scaled / raw / tempered cosines."""
    cos = torch.as_tensor(cos, dtype=torch.float64)
    if cfg.prob_mode == "scaled":
        z = cos * torch.as_tensor(logit_scale, dtype=torch.float64)
    elif cfg.prob_mode == "unscaled":
        z = cos
    else:
        z = cos / cfg.prob_temperature
    return torch.softmax(z, dim=-1)


def t3_lambdas(p_base: torch.Tensor, p_expert: torch.Tensor, cfg: CoefConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """``(js, lambda)`` per sample from the two models' probabilities."""
    js = js_divergence(p_base, p_expert, log_base=cfg.js_log_base, eps=cfg.js_eps)
    return js, lambda_from_js(js, cfg)


def batch_lambdas(
    lam: torch.Tensor, js: torch.Tensor, cfg: CoefConfig, *, batch_size: int, agg: str = "mean_lambda"
) -> torch.Tensor:
    """T3_B: one lambda per consecutive batch of ``batch_size`` samples, broadcast back to samples.

    Args:
        lam: per-sample lambdas (dataset order).
        js: per-sample JS values (same order).
        cfg: the coefficient config (for ``lambda_of_mean_js``).
        batch_size: merge batch size (the last batch may be shorter).
        agg: ``mean_lambda`` (mean of per-sample lambdas) or ``lambda_of_mean_js``.
    """
    if batch_size < 1:
        raise ValueError(f"merge_batch_size must be >= 1, got {batch_size}")
    if agg not in ("mean_lambda", "lambda_of_mean_js"):
        raise ValueError(f"batch_agg must be mean_lambda or lambda_of_mean_js, got {agg!r}")
    lam = torch.as_tensor(lam, dtype=torch.float64)
    js = torch.as_tensor(js, dtype=torch.float64)
    out = torch.empty_like(lam)
    for start in range(0, len(lam), batch_size):
        sl = slice(start, start + batch_size)
        if agg == "mean_lambda":
            out[sl] = lam[sl].mean()
        else:
            out[sl] = lambda_from_js(js[sl].mean(), cfg)
    return out


def lambda_stats(lam: torch.Tensor, cfg: CoefConfig | None = None, bins: int = 10) -> dict:
    """Mean, std, min, max and a histogram of lambdas (over the theoretical range given ``cfg``)."""
    x = torch.as_tensor(lam, dtype=torch.float64).cpu().numpy()
    if x.size == 0:
        return {"n": 0}
    lo, hi = (float(x.min()), float(x.max()))
    if cfg is not None:
        lo, hi = cfg.lambda_range()
        if cfg.coef_target == "expert":
            lo, hi = 1.0 - hi, 1.0 - lo
    if hi <= lo:
        hi = lo + 1e-12
    counts, edges = np.histogram(np.clip(x, lo, hi), bins=bins, range=(lo, hi))
    return {
        "n": int(x.size),
        "mean": float(x.mean()),
        "std": float(x.std()),
        "min": float(x.min()),
        "max": float(x.max()),
        "hist_counts": counts.tolist(),
        "hist_edges": [float(e) for e in edges],
    }
