"""Static (one-model) merges of a base / expert pair (spec section 8), with ``tau = theta_e - theta_b``.

Each function returns the merged values of the pair's differing tensors (a partial state dict); load it
with ``pair.build(update)``. Non-differing tensors are shared by both models and need no merging.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .pair import MergeError, MergePair


def weight_average(pair: MergePair) -> dict[str, torch.Tensor]:
    """``(theta_b + theta_e) / 2`` (computed as ``lerp(theta_e, theta_b, 0.5)``)."""
    return pair.merged_state_dict(0.5)


def wise_ft(pair: MergePair, alpha: float = 0.5) -> dict[str, torch.Tensor]:
    """WiSE-FT: ``(1 - alpha) * theta_b + alpha * theta_e`` (alpha = 0 is the base, 1 the expert)."""
    if not 0.0 <= alpha <= 1.0:
        raise MergeError(f"WiSE-FT alpha must be in [0, 1], got {alpha}")
    return pair.merged_state_dict(1.0 - alpha)


def task_arithmetic(pair: MergePair, scale: float = 0.3) -> dict[str, torch.Tensor]:
    """``theta_b + s * tau`` (for one expert this equals WiSE-FT with alpha = s)."""
    return pair.with_offsets({k: scale * t for k, t in pair.task_vector().items()})


def _global_topk_mask(taus: Sequence[dict[str, torch.Tensor]], keep_frac: float) -> list[dict[str, torch.Tensor]]:
    """Per task vector, a mask keeping its top ``keep_frac`` entries by magnitude (global over all tensors)."""
    masks = []
    for tau in taus:
        if not tau:
            masks.append({})
            continue
        flat = torch.cat([t.abs().flatten() for t in tau.values()])
        k = max(1, int(round(keep_frac * flat.numel())))
        thresh = torch.topk(flat, k, sorted=False).values.min()
        masks.append({n: t.abs() >= thresh for n, t in tau.items()})
    return masks


def ties_offsets(
    taus: Sequence[dict[str, torch.Tensor]], *, top_k: float = 20.0, scale: float = 0.3
) -> dict[str, torch.Tensor]:
    """TIES-merging offsets: trim to top-K% (global), elect signs by sum, disjoint mean, times ``scale``.

    Args:
        taus: one task vector per expert (same keys).
        top_k: percentage of entries kept per task vector.
        scale: the final scaling ``s``.
    """
    if not 0.0 < top_k <= 100.0:
        raise MergeError(f"TIES top_k must be in (0, 100], got {top_k}")
    masks = _global_topk_mask(taus, top_k / 100.0)
    out = {}
    for name in taus[0]:
        trimmed = torch.stack([tau[name] * m[name] for tau, m in zip(taus, masks)])
        sign = torch.sign(trimmed.sum(0))  # "dis-sum" election: sign of the summed trimmed vectors
        agree = (torch.sign(trimmed) == sign) & (trimmed != 0)
        count = agree.sum(0).clamp_min(1)
        out[name] = scale * (trimmed * agree).sum(0) / count
    return out


def ties(pair: MergePair, *, top_k: float = 20.0, scale: float = 0.3) -> dict[str, torch.Tensor]:
    """TIES-merging of the pair's single expert (the sign election is then trivial)."""
    return pair.with_offsets(ties_offsets([pair.task_vector()], top_k=top_k, scale=scale))


def dare(pair: MergePair, *, drop: float = 0.7, scale: float = 1.0, seed: int = 0) -> dict[str, torch.Tensor]:
    """DARE: drop each entry of tau with probability ``drop`` (seeded), rescale by ``1/(1 - drop)``."""
    if not 0.0 <= drop < 1.0:
        raise MergeError(f"DARE drop rate must be in [0, 1), got {drop}")
    gen = torch.Generator().manual_seed(seed)
    offsets = {}
    for name, tau in pair.task_vector().items():
        keep = torch.rand(tau.shape, generator=gen) >= drop
        offsets[name] = scale * tau * keep / (1.0 - drop)
    return pair.with_offsets(offsets)
