"""The two endpoints: the stock base (generalist) and expert models, from the shared pass A (no merge)."""

from __future__ import annotations

import torch

from ..registry import MergeContext, Outcome, register_merge_method


@register_merge_method("base", kind="endpoint", endpoints={"base": []})
def base(ctx: MergeContext, cfg: None) -> Outcome:
    """The zero-shot base model ``theta_b`` (lambda = 1 for every sample)."""
    return Outcome(ctx.cos_b, lam=torch.ones(ctx.n, dtype=torch.float64))


@register_merge_method("expert", kind="endpoint", endpoints={"expert": []})
def expert(ctx: MergeContext, cfg: None) -> Outcome:
    """The fine-tuned expert ``theta_e`` (lambda = 0 for every sample)."""
    return Outcome(ctx.cos_e, lam=torch.zeros(ctx.n, dtype=torch.float64))
