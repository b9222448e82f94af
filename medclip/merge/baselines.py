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
