"""LoRA on the q, k, v projections of a ViT image tower, and its low-rank deltas for the ``delta`` engine.

``add_lora(model.visual, rank=16)`` parametrizes the fused q/k/v weight of every attention block
(open_clip ``nn.MultiheadAttention.in_proj_weight`` or timm ``Attention.qkv.weight``) as
``W + scale * B @ A`` per projection (``scale = alpha / rank``), with ``B`` initialised to zero.
``lora_factors`` exports the trained delta as :class:`LowRank` factors keyed by the full state-dict key,
and ``merge_lora`` bakes the delta into plain weights (the expert checkpoint is an ordinary model).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import parametrize

from .dual_ops import LowRank

PROJ = {"q": 0, "k": 1, "v": 2}


class LoRADelta(nn.Module):
    """Parametrization ``W -> W + scale * [B_q A_q; B_k A_k; B_v A_v]`` of a fused ``(3d, d_in)`` weight."""

    def __init__(self, weight: torch.Tensor, *, rank: int, alpha: float, targets: tuple[str, ...], seed: int):
        super().__init__()
        out_f, in_f = weight.shape
        if out_f % 3:
            raise ValueError(f"fused q/k/v weight expected, got shape {tuple(weight.shape)}")
        self.d, self.rank, self.scale = out_f // 3, rank, alpha / rank
        self.targets = tuple(targets)
        gen = torch.Generator().manual_seed(seed)
        bound = 1.0 / math.sqrt(in_f)
        self.A = nn.Parameter((torch.rand(len(targets), rank, in_f, generator=gen) * 2 - 1) * bound)
        self.B = nn.Parameter(torch.zeros(len(targets), self.d, rank))

    def delta(self) -> torch.Tensor:
        """The dense ``(3d, d_in)`` delta."""
        out = self.A.new_zeros(3 * self.d, self.A.shape[-1])
        for j, t in enumerate(self.targets):
            i = PROJ[t]
            out[i * self.d : (i + 1) * self.d] = self.B[j] @ self.A[j]
        return self.scale * out

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return w + self.delta()

    def lowrank(self) -> LowRank:
        """The delta as ``b @ a`` with ``a``: (t*r, d_in) and block-structured ``b``: (3d, t*r)."""
        t, r = len(self.targets), self.rank
        a = self.A.detach().reshape(t * r, -1).clone()
        b = self.A.new_zeros(3 * self.d, t * r)
        for j, name in enumerate(self.targets):
            i = PROJ[name]
            b[i * self.d : (i + 1) * self.d, j * r : (j + 1) * r] = self.scale * self.B[j].detach()
        return LowRank(a, b)


def _qkv_params(tower: nn.Module) -> list[tuple[nn.Module, str, str]]:
    out = []
    for name, mod in tower.named_modules():
        if isinstance(mod, nn.MultiheadAttention) and mod._qkv_same_embed_dim:
            out.append((mod, "in_proj_weight", f"{name}.in_proj_weight"))
        elif hasattr(mod, "qkv") and isinstance(mod.qkv, nn.Linear):
            out.append((mod.qkv, "weight", f"{name}.qkv.weight"))
    return out


def add_lora(
    tower: nn.Module, *, rank: int = 16, alpha: float | None = None, targets=("q", "k", "v"), seed: int = 0
) -> dict[str, LoRADelta]:
    """Freeze ``tower`` and add trainable LoRA to every fused q/k/v weight; returns ``{key: LoRADelta}``.

    Keys are relative to ``tower`` (prefix them with ``visual.`` for a CLIP state dict).
    """
    bad = [t for t in targets if t not in PROJ]
    if bad or not targets:
        raise ValueError(f"LoRA targets must be a non-empty subset of q, k, v; got {list(targets)}")
    found = _qkv_params(tower)
    if not found:
        raise ValueError("no fused q/k/v attention weights found for LoRA")
    for p in tower.parameters():
        p.requires_grad_(False)
    out = {}
    for i, (mod, pname, key) in enumerate(found):
        lora = LoRADelta(getattr(mod, pname).detach(), rank=rank, alpha=alpha or rank, targets=targets, seed=seed + i)
        parametrize.register_parametrization(mod, pname, lora)
        out[key] = lora
    return out


def lora_factors(loras: dict[str, LoRADelta], prefix: str = "visual.") -> dict[str, LowRank]:
    """``{state-dict key: LowRank}`` of each *expert-minus-base* delta."""
    return {prefix + k: v.lowrank() for k, v in loras.items()}


def merge_lora(tower: nn.Module) -> None:
    """Bake every LoRA parametrization into its weight (in place) and unfreeze nothing."""
    for mod in list(tower.modules()):
        if parametrize.is_parametrized(mod):
            for pname in list(mod.parametrizations.keys()):
                parametrize.remove_parametrizations(mod, pname, leave_parametrized=True)


def base_minus_expert(factors: dict[str, LowRank]) -> dict[str, LowRank]:
    """Negate expert-minus-base factors into the ``theta_b - theta_e`` deltas the delta engine expects."""
    return {k: LowRank(f.a, -f.b) for k, f in factors.items()}
