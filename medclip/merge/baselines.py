"""Per-sample and output-space baselines (spec section 8): DaWin entropy ratio, random-lambda controls,
output ensemble. Coefficients here are returned as **weights on the base model** (T3's convention), so they
run through the same merge engines as T3.
"""

from __future__ import annotations

import numpy as np
import torch

RANDOM_CONTROLS = {
    "uniform": ("uniform", 0.0, 1.0),
    "normal_0.5_0.2": ("normal", 0.5, 0.2),
    "normal_0.8_0.1": ("normal", 0.8, 0.1),
}


def entropy(p: torch.Tensor) -> torch.Tensor:
    """Row-wise Shannon entropy (nats) in float64; ``0 log 0 = 0``."""
    p = torch.as_tensor(p, dtype=torch.float64)
    return -(p * torch.where(p > 0, p.log(), torch.zeros_like(p))).sum(-1)


def dawin_expert_weight(p_base: torch.Tensor, p_expert: torch.Tensor, *, offset: bool = False) -> torch.Tensor:
    """DaWin's entropy-ratio weight on the **expert** per sample.

    ``w = e^{-H_e} / (e^{-H_b} + e^{-H_e})``; with ``offset``:
    ``w = (e^{-H_e} + b / r) / (e^{-H_b} + e^{-H_e} + b)``, ``b`` = mean of the two models' coefficient of
    variation of H (std / mean) and ``r = (mean H_b + mean H_e) / mean H_b``.
    """
    h_b, h_e = entropy(p_base), entropy(p_expert)
    eb, ee = torch.exp(-h_b), torch.exp(-h_e)
    if not offset:
        return ee / (eb + ee)
    cv = lambda h: float(h.std(unbiased=False) / h.mean()) if float(h.mean()) > 0 else 0.0  # noqa: E731
    b = 0.5 * (cv(h_b) + cv(h_e))
    mb = float(h_b.mean())
    r = (mb + float(h_e.mean())) / mb if mb > 0 else 1.0
    return (ee + b / r) / (eb + ee + b)


def dawin_lambda(p_base: torch.Tensor, p_expert: torch.Tensor, *, offset: bool = False) -> torch.Tensor:
    """DaWin expressed as T3's lambda (weight on the base): ``1 - w``."""
    return 1.0 - dawin_expert_weight(p_base, p_expert, offset=offset)


def random_lambda(n: int, kind: str, *, seed: int = 0) -> torch.Tensor:
    """Random-lambda controls, clamped to [0.01, 0.99]: ``uniform``, ``normal_0.5_0.2``, ``normal_0.8_0.1``."""
    if kind not in RANDOM_CONTROLS:
        raise ValueError(f"unknown random control {kind!r}; choose from {', '.join(RANDOM_CONTROLS)}")
    dist, a, b = RANDOM_CONTROLS[kind]
    rng = np.random.default_rng(seed)
    x = rng.uniform(a, b, n) if dist == "uniform" else rng.normal(a, b, n)
    return torch.from_numpy(np.clip(x, 0.01, 0.99)).to(torch.float64)


def output_ensemble(p_base: torch.Tensor, p_expert: torch.Tensor, c: float = 0.5) -> torch.Tensor:
    """Output-space ensemble probabilities ``(1 - c) p_b + c p_e`` (not a weight merge)."""
    if not 0.0 <= c <= 1.0:
        raise ValueError(f"ensemble weight c must be in [0, 1], got {c}")
    return (1.0 - c) * torch.as_tensor(p_base, dtype=torch.float64) + c * torch.as_tensor(p_expert, dtype=torch.float64)


def _beta_logpdf(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - 1) * x.log() + (b - 1) * (1 - x).log() - (torch.lgamma(a) + torch.lgamma(b) - torch.lgamma(a + b))


def beta_mixture_assign(w: torch.Tensor, k: int = 3, iters: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
    """Fit a ``k``-component Beta mixture to ``w`` in (0, 1) by EM (method-of-moments M-step).

    Initialised deterministically from the ``k`` quantile groups of ``w``. Returns ``(assignment (N,),
    component means a/(a+b) (k,))``.
    """
    x = torch.as_tensor(w, dtype=torch.float64).clamp(1e-6, 1 - 1e-6)
    n = len(x)
    k = max(1, min(k, n))
    resp = torch.zeros(n, k, dtype=torch.float64)
    resp[x.argsort(), torch.arange(n) * k // n] = 1.0
    for _ in range(iters):
        nk = resp.sum(0).clamp_min(1e-12)
        mu = (resp * x[:, None]).sum(0) / nk
        var = (resp * (x[:, None] - mu) ** 2).sum(0) / nk
        var = torch.minimum(var.clamp_min(1e-8), mu * (1 - mu) * 0.999)
        common = mu * (1 - mu) / var - 1
        a, b = mu * common, (1 - mu) * common
        logp = _beta_logpdf(x[:, None], a, b) + (nk / n).log()
        new = torch.softmax(logp, dim=1)
        if torch.allclose(new, resp, atol=1e-10):
            break
        resp = new
    return resp.argmax(1), a / (a + b)


def dawin_bmm_lambda(p_base: torch.Tensor, p_expert: torch.Tensor, *, k: int = 3, batch: int = 1024) -> torch.Tensor:
    """DaWin-BMM (fast variant) as T3's lambda: within each batch of ``batch`` consecutive samples, cluster
    the entropy-ratio expert weights with a ``k``-component Beta mixture and give every sample its
    cluster's mean weight (one merged model per cluster); returns ``1 - w``.
    """
    w = dawin_expert_weight(p_base, p_expert)
    out = torch.empty_like(w)
    for s in range(0, len(w), batch):
        assign, means = beta_mixture_assign(w[s : s + batch], k)
        out[s : s + batch] = means[assign]
    return 1.0 - out
