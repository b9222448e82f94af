"""Static (one-model) weight merges of the pair, ``tau = theta_e - theta_b`` (formulas in :mod:`..static`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from .. import static
from ..registry import MergeContext, Outcome, register_merge_method


@dataclass
class WiseFTConfig:
    """WiSE-FT settings (``merge.params.wise_ft``)."""

    alpha: float = 0.5  # weight on the expert
    sweep: list[float] = field(default_factory=list)  # extra alphas, reported as wise_ft@<alpha>


@dataclass
class TaskArithmeticConfig:
    """Task arithmetic settings (``merge.params.task_arithmetic``)."""

    scale: float = 0.3  # s


@dataclass
class TiesConfig:
    """TIES settings (``merge.params.ties``)."""

    top_k: float = 20.0  # % of tau entries kept (global)
    scale: float = 0.3  # s


@dataclass
class DareConfig:
    """DARE settings (``merge.params.dare``)."""

    drop: float = 0.7  # drop rate p
    scale: float = 1.0  # s
    seed: int = 0  # mask seed


@register_merge_method("weight_avg", kind="static")
def weight_avg(ctx: MergeContext, cfg: None):
    """``(theta_b + theta_e) / 2``."""
    return static.weight_average(ctx.pair)


@register_merge_method(
    "wise_ft",
    kind="static",
    config=WiseFTConfig,
    endpoints={"base": ["params.wise_ft.alpha=0"], "expert": ["params.wise_ft.alpha=1"]},
)
def wise_ft(ctx: MergeContext, cfg: WiseFTConfig) -> Iterator[Outcome]:
    """``(1 - alpha) theta_b + alpha theta_e`` for ``alpha`` and every ``sweep`` value (``wise_ft@a``)."""
    for a in [cfg.alpha, *cfg.sweep]:
        yield Outcome(static.wise_ft(ctx.pair, a), name="wise_ft" if a == cfg.alpha else f"wise_ft@{a:g}")


@register_merge_method(
    "task_arithmetic",
    kind="static",
    config=TaskArithmeticConfig,
    endpoints={"base": ["params.task_arithmetic.scale=0"], "expert": ["params.task_arithmetic.scale=1"]},
)
def task_arithmetic(ctx: MergeContext, cfg: TaskArithmeticConfig):
    """``theta_b + s tau``."""
    return static.task_arithmetic(ctx.pair, cfg.scale)


@register_merge_method(
    "ties",
    kind="static",
    config=TiesConfig,
    endpoints={"base": ["params.ties.scale=0"], "expert": ["params.ties.top_k=100", "params.ties.scale=1"]},
)
def ties(ctx: MergeContext, cfg: TiesConfig):
    """``theta_b + s * TIES(tau)``: top-k% trim, sign election, disjoint mean."""
    return static.ties(ctx.pair, top_k=cfg.top_k, scale=cfg.scale)


@register_merge_method(
    "dare",
    kind="static",
    config=DareConfig,
    endpoints={"base": ["params.dare.scale=0"], "expert": ["params.dare.drop=0", "params.dare.scale=1"]},
)
def dare(ctx: MergeContext, cfg: DareConfig):
    """``theta_b + s * m * tau / (1 - p)``, ``m ~ Bernoulli(1 - p)`` (seeded)."""
    return static.dare(ctx.pair, drop=cfg.drop, scale=cfg.scale, seed=cfg.seed)
