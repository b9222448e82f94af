"""T3 and T3_B: the Jensen-Shannon coefficient of :mod:`..coef` (``merge.coef``), per sample or per batch."""

from __future__ import annotations

from ..coef import batch_lambdas
from ..registry import MergeContext, Outcome, register_merge_method

# a constant lambda of 1 (0) is the base (expert) for every sample
ENDPOINTS = {
    "base": ["coef.lambda_min=1", "coef.lambda_max=1"],
    "expert": ["coef.lambda_min=0", "coef.lambda_max=0"],
}


@register_merge_method("t3", kind="per_sample", t3_coef=True, coef_stats=True, endpoints=ENDPOINTS)
def t3(ctx: MergeContext, cfg: None):
    """``lambda = lambda_min + (lambda_max - lambda_min) sigmoid(gamma JS(p_b || p_e))``."""
    return ctx.lam_t3


def _batched(ctx: MergeContext, agg: str) -> Outcome:
    b = ctx.merge.merge_batch_size
    lam = batch_lambdas(ctx.lam_t3, ctx.js, ctx.merge.coef, batch_size=b, agg=agg)
    return Outcome(lam, notes=[f"batch_agg={agg}, B={b}"])


@register_merge_method("t3_b", kind="batch", t3_coef=True, endpoints=ENDPOINTS)
def t3_b(ctx: MergeContext, cfg: None) -> Outcome:
    """One lambda per ``merge_batch_size`` consecutive samples, aggregated by ``merge.batch_agg``."""
    return _batched(ctx, ctx.merge.batch_agg)


@register_merge_method("t3_b_mean_js", kind="batch", t3_coef=True, endpoints=ENDPOINTS)
def t3_b_mean_js(ctx: MergeContext, cfg: None) -> Outcome:
    """T3_B with ``lambda(mean JS of the batch)``."""
    return _batched(ctx, "lambda_of_mean_js")
