"""Random-lambda controls: per-sample merges whose lambda ignores the input (clamped to [0.01, 0.99])."""

from __future__ import annotations

from dataclasses import dataclass

from .. import baselines
from ..registry import MergeContext, register_merge_method


@dataclass
class RandomConfig:
    """Settings shared by the random controls (``merge.params.random``)."""

    seed: int = 0  # numpy seed of the lambdas


@register_merge_method("random_uniform", kind="per_sample", config=RandomConfig, section="random")
def random_uniform(ctx: MergeContext, cfg: RandomConfig):
    """``lambda ~ U(0, 1)``."""
    return baselines.random_lambda(ctx.n, "uniform", seed=cfg.seed)


@register_merge_method("random_n05", kind="per_sample", config=RandomConfig, section="random")
def random_n05(ctx: MergeContext, cfg: RandomConfig):
    """``lambda ~ N(0.5, 0.2^2)``."""
    return baselines.random_lambda(ctx.n, "normal_0.5_0.2", seed=cfg.seed)


@register_merge_method("random_n08", kind="per_sample", config=RandomConfig, section="random")
def random_n08(ctx: MergeContext, cfg: RandomConfig):
    """``lambda ~ N(0.8, 0.1^2)``."""
    return baselines.random_lambda(ctx.n, "normal_0.8_0.1", seed=cfg.seed)
