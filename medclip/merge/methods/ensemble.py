"""The output-space ensemble of the two endpoint models (not a weight merge)."""

from __future__ import annotations

from dataclasses import dataclass

from .. import baselines
from ..registry import MergeContext, Outcome, register_merge_method


@dataclass
class EnsembleConfig:
    """Output ensemble settings (``merge.params.ensemble``)."""

    c: float = 0.5  # weight on the expert's probabilities


@register_merge_method(
    "ensemble",
    kind="output",
    config=EnsembleConfig,
    endpoints={"base": ["params.ensemble.c=0"], "expert": ["params.ensemble.c=1"]},
)
def ensemble(ctx: MergeContext, cfg: EnsembleConfig) -> Outcome:
    """``(1 - c) p_b + c p_e``."""
    return Outcome(baselines.output_ensemble(ctx.p_b, ctx.p_e, cfg.c), notes=["output space, not a merge"])
