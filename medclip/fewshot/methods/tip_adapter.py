"""Tip-Adapter and Tip-Adapter-F (Zhang et al., ECCV'22) with val-only selection (spec §5.8, P14, P21).

Logits ``s·f·Wᵀ + α·exp(−β(1 − f·Fᵀ))·L`` with cache keys F (normalized mean over augmented views of the
support features) and one-hot values L. medclip calls α ``residual_ratio`` and β ``sharpness``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...config import ConfigError
from ..head import FeatureHead
from ..registry import FewShotMethod, FitInputs, Predictor, register_method
from ..valsplit import ValSplit, require_val


def tip_logits(f, keys, values, text_weights, scale, residual_ratio: float, sharpness: float) -> torch.Tensor:
    """Tip-Adapter logits for features ``f (B, d)``, keys ``(NK, d)``, values ``(NK, C)``, W ``(C, d)``."""
    f = f.float()
    affinity = f @ keys.float().t()
    cache = torch.exp(-sharpness * (1 - affinity)) @ values.float()
    return scale * f @ text_weights.float().t() + residual_ratio * cache


def beta_alpha_grid(lo: float = 0.1, hi: float = 50.0, steps: int = 200) -> torch.Tensor:
    """``{lo + i·(hi − lo)/steps, i = 0..steps−1}`` (the BiomedCoOp protocol grid for β and α)."""
    return lo + torch.arange(steps, dtype=torch.float64) * (hi - lo) / steps


TIE_BREAKS = ("val_ce", "first")


@torch.no_grad()
def search_alpha_beta(
    val: ValSplit, keys, values, text_weights, scale, grid: torch.Tensor, tie_break: str = "val_ce"
) -> tuple[float, float, float]:
    """Grid-search (α, β) on the validation split; returns ``(residual_ratio, sharpness, val_acc)``.

    The highest validation accuracy wins. With a few validation images per class many (α, β) pairs tie
    (thousands of the 40,000 on the demo at 4 per class); ``tie_break`` picks among them: ``val_ce`` = the
    lowest validation cross-entropy of the logits (medclip's default), ``first`` = the first pair in grid
    order, smallest β then smallest α (what a plain argmax does; the spec leaves ties open).
    """
    require_val(val)
    if tie_break not in TIE_BREAKS:
        raise ValueError(f"tie_break must be one of {TIE_BREAKS}, got {tie_break!r}")
    f, y = F.normalize(val.features.float(), dim=-1), val.labels
    zs = scale * f @ text_weights.float().t()
    affinity = f @ keys.float().t()
    best = (-1.0, float("inf"), 0.0, 0.0)  # acc, ce, alpha, beta
    alphas = grid.float()
    for beta in grid.tolist():
        cache = torch.exp(-beta * (1 - affinity)) @ values.float()  # (M, C)
        logits = zs.unsqueeze(0) + alphas.view(-1, 1, 1) * cache.unsqueeze(0)  # (A, M, C)
        acc = (logits.argmax(-1) == y.unsqueeze(0)).float().mean(1)
        top = float(acc.max())
        if tie_break == "first":
            i, ce = int(acc.argmax()), 0.0
        else:
            nll = -logits.log_softmax(-1).gather(-1, y.view(1, -1, 1).expand(len(alphas), -1, 1)).squeeze(-1)
            ce_all = torch.where(acc == top, nll.mean(1), torch.full_like(acc, float("inf")))
            i = int(ce_all.argmin())
            ce = float(ce_all[i])
        if top > best[0] or (top == best[0] and ce < best[1]):
            best = (top, ce, float(alphas[i]), float(beta))
    return best[2], best[3], best[0]


def build_cache(view_feats: torch.Tensor, labels: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Keys = normalized mean over views ``(V, N, d) -> (N, d)``; values = one-hot ``(N, C)``."""
    if view_feats.dim() == 2:
        view_feats = view_feats.unsqueeze(0)
    keys = F.normalize(F.normalize(view_feats.float(), dim=-1).mean(0), dim=-1)
    return keys, F.one_hot(labels.long(), num_classes).float()


class TipAdapterF(FeatureHead):
    """Tip-Adapter-F: the cache keys become a trainable ``Linear`` (weight initialized with F)."""

    name = "tip_adapter_f"

    def __init__(self, keys, values, text_weights, scale, *, residual_ratio: float = 1.0, sharpness: float = 1.0):
        super().__init__(text_weights, scale)
        self.cache_keys = nn.Linear(keys.shape[1], keys.shape[0], bias=False)
        with torch.no_grad():
            self.cache_keys.weight.copy_(keys.float())
        self.register_buffer("values", values.float().clone(), persistent=False)
        self.residual_ratio, self.sharpness = float(residual_ratio), float(sharpness)

    def forward(self, f):
        f = F.normalize(f.float(), dim=-1)
        affinity = self.cache_keys(f)
        cache = torch.exp(-self.sharpness * (1 - affinity)) @ self.values
        return self.scale * f @ self.text_weights.t() + self.residual_ratio * cache

    @torch.no_grad()
    def val_accuracy(self, val: ValSplit) -> float:
        require_val(val)
        self.set_mode(False)
        return float((self(val.features).argmax(-1) == val.labels).float().mean())

    def snapshot(self) -> dict:
        return copy.deepcopy(self.state_dict())

    @torch.no_grad()
    def predict_logits(self, feats):
        self.set_mode(False)
        return self(feats)


@dataclass
class TipCfg:
    init_alphas: list[float] = field(default_factory=lambda: [1.0])  # one Tip-F trained per value
    init_beta: float = 1.0
    grid_min: float = 0.1
    grid_max: float = 50.0
    grid_steps: int = 200
    eps: float = 1e-4  # AdamW eps (Tip-Adapter-F)
    tie_break: str = "val_ce"  # among equal val accuracies: val_ce (lowest val cross-entropy) | first (grid order)

    def validate(self) -> None:
        if self.tie_break not in TIE_BREAKS:
            raise ConfigError(f"tip.tie_break must be val_ce or first, got {self.tie_break!r}")


def tip_grid(cfg) -> torch.Tensor:
    """The α/β search grid of ``cfg.tip``."""
    return beta_alpha_grid(cfg.tip.grid_min, cfg.tip.grid_max, cfg.tip.grid_steps)


@register_method("tip_adapter", cost=20, uses_prior=True, section="tip", config=TipCfg)
class TipAdapterMethod(FewShotMethod):
    """Training-free Tip-Adapter: a cache of the support features, α/β searched on validation."""

    def fit(self, inp: FitInputs) -> Predictor:
        keys, values = build_cache(inp.views, inp.labels, inp.num_classes)
        w0, scale = inp.prior, inp.scale
        alpha, beta, acc = search_alpha_beta(inp.val, keys, values, w0, scale, tip_grid(inp.cfg), inp.cfg.tip.tie_break)
        return Predictor(
            lambda f: tip_logits(F.normalize(f.float(), dim=-1), keys, values, w0, scale, alpha, beta),
            {"residual_ratio": alpha, "sharpness": beta, "val_acc": acc},
        )
