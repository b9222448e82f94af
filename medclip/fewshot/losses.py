"""Loss terms of the CoOp family, as small pure functions (spec §5; golden values §11).

All terms are computed in float32 whatever the autocast state (spec §3.8).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

KD_REDUCTIONS = ("sum_div_BC", "batchmean")
KG_DISTANCES = ("one_minus_cos", "squared_l2")


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, reduction: str = "sum_div_BC") -> torch.Tensor:
    """BiomedCoOp KDSP term: KL(softmax(teacher) ‖ softmax(student)), no temperature.

    ``sum_div_BC`` divides the sum over batch and classes by B·C (the reference); ``batchmean`` divides
    by B, so ``sum_div_BC`` equals ``batchmean / C``.
    """
    if reduction not in KD_REDUCTIONS:
        raise ValueError(f"kd_reduction must be one of {KD_REDUCTIONS}, got {reduction!r}")
    s, t = student.float(), teacher.float()
    log_pt, log_ps = F.log_softmax(t, -1), F.log_softmax(s, -1)
    total = (log_pt.exp() * (log_pt - log_ps)).sum()
    norm = s.shape[0] * s.shape[1] if reduction == "sum_div_BC" else s.shape[0]
    return total / norm


def sccm_loss(w: torch.Tensor, t_all: torch.Tensor) -> torch.Tensor:
    """BiomedCoOp SCCM term: mean squared error over all C·d entries between prompts and bank means."""
    return ((w.float() - t_all.float()) ** 2).mean()


def kg_loss(w: torch.Tensor, w0: torch.Tensor, distance: str = "one_minus_cos") -> torch.Tensor:
    """KgCoOp term: ``1 − mean_c cos(w_c, w0_c)`` or the paper's mean squared L2 (= 2× for unit vectors)."""
    if distance not in KG_DISTANCES:
        raise ValueError(f"kg_distance must be one of {KG_DISTANCES}, got {distance!r}")
    w, w0 = F.normalize(w.float(), dim=-1), F.normalize(w0.float(), dim=-1)
    if distance == "one_minus_cos":
        return 1.0 - (w * w0).sum(-1).mean()
    return ((w - w0) ** 2).sum(-1).mean()


def prograd_kl(student: torch.Tensor, teacher: torch.Tensor, T: float = 1.0) -> torch.Tensor:
    """ProGrad distillation term: soft cross-entropy ``mean_b Σ_c −p_T log softmax(z/T) · T²``."""
    p_t = F.softmax(teacher.float() / T, -1)
    return -(p_t * F.log_softmax(student.float() / T, -1)).sum(-1).mean() * T * T


def prograd_project(
    g: torch.Tensor, h: torch.Tensor, lam: float = 1.0, eps: float = 1e-12, rel_eps: float = 1e-5
) -> torch.Tensor:
    """Project the CE gradient ``g`` off the KL gradient ``h`` when they conflict (spec §5.4).

    Returns ``g`` unchanged when ``h`` is zero — ``‖h‖ ≤ max(eps, rel_eps·‖g‖)``, the spec's absolute
    guard plus a relative one, because at a word init float32 round-off leaves ``‖h‖ ≈ 1e-7`` whose
    direction is noise — or when ``g·ĥ ≥ 0``; otherwise ``g − λ(g·ĥ)ĥ``. Dot products are taken over the
    flattened tensors in float32.
    """
    gf, hf = g.float().flatten(), h.float().flatten()
    norm = hf.norm()
    if not torch.isfinite(norm) or norm <= max(eps, rel_eps * float(gf.norm())):
        return g
    hh = hf / norm
    dot = gf @ hh
    if dot >= 0:
        return g
    return (gf - lam * dot * hh).view_as(g).to(g.dtype)
