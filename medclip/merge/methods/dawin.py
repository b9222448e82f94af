"""DaWin: per-sample entropy-ratio merge weights (formulas in :mod:`..baselines`), as T3's lambda."""

from __future__ import annotations

from dataclasses import dataclass

from .. import baselines
from ..registry import MergeContext, Outcome, register_merge_method


@dataclass
class DawinBMMConfig:
    """DaWin-BMM settings (``merge.params.dawin_bmm``)."""

    components: int = 3  # Beta-mixture components per batch
    batch: int = 1024  # samples per clustering batch


@register_merge_method("dawin", kind="per_sample")
def dawin(ctx: MergeContext, cfg: None):
    """``lambda = 1 - e^{-H_e} / (e^{-H_b} + e^{-H_e})``."""
    return baselines.dawin_lambda(ctx.p_b, ctx.p_e)


@register_merge_method("dawin_offset", kind="per_sample")
def dawin_offset(ctx: MergeContext, cfg: None):
    """``lambda = 1 - (e^{-H_e} + b / r) / (e^{-H_b} + e^{-H_e} + b)`` (DaWin's offset variant)."""
    return baselines.dawin_lambda(ctx.p_b, ctx.p_e, offset=True)


@register_merge_method("dawin_bmm", kind="batch", config=DawinBMMConfig)
def dawin_bmm(ctx: MergeContext, cfg: DawinBMMConfig) -> Outcome:
    """Per batch, the entropy-ratio weights clustered by a Beta mixture; each sample gets its cluster's mean."""
    lam = baselines.dawin_bmm_lambda(ctx.p_b, ctx.p_e, k=cfg.components, batch=cfg.batch)
    return Outcome(lam, notes=[f"{cfg.components} clusters"])
