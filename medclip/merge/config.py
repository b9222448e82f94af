"""Typed configuration of a merging run (spec sections 3 and 8); loaded with ``medclip.config``."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import ConfigError
from .coef import CoefConfig

ALL_METHODS = (
    "base", "expert", "weight_avg", "wise_ft", "task_arithmetic", "ties", "dare", "ensemble",
    "dawin", "dawin_offset", "dawin_bmm", "t3", "t3_b", "t3_b_mean_js", "random_uniform", "random_n05", "random_n08",
)  # fmt: skip


@dataclass
class MergeConfig:
    """Every setting of a T3 / baseline run. Defaults are medclip's documented choices for the unknowns."""

    coef: CoefConfig = field(default_factory=CoefConfig)
    engine: str = "dual"  # per-sample methods (t3, dawin, random): dual | delta | naive
    batch_engine: str = "naive"  # T3_B: naive (one rebuild per merge batch) | dual | delta
    batch_agg: str = "mean_lambda"  # t3_b aggregator (t3_b_mean_js always uses lambda_of_mean_js)
    merge_batch_size: int = 32  # T3_B batch of consecutive samples (dataset order)
    merge_scope: list[str] = field(default_factory=lambda: ["all_differing"])  # or [vision] / [text] / regexes
    merge_logit_scale: bool = True  # merge logit_scale (and logit_bias) with the other tensors
    unmerged_from: str = "expert"  # tensors outside merge_scope take this model's values
    text_mode: str = "auto"  # auto (exact) | recompute (exact, rebuilds) | approx_mix (NOT exact, labeled)
    merge_dtype: str = "fp32"  # both state dicts are cast to fp32 before mixing (only fp32 is supported)
    batch_size: int = 64  # forward batch size
    shuffle: bool = False  # evaluation order; T3_B depends on it, so it must stay false
    methods: list[str] = field(default_factory=lambda: list(ALL_METHODS))
    wise_alpha: float = 0.5  # WiSE-FT weight on the expert
    wise_sweep: list[float] = field(default_factory=list)  # extra WiSE-FT alphas reported as wise_ft@a
    ta_scale: float = 0.3  # task arithmetic s
    ties_top_k: float = 20.0  # TIES: % of tau entries kept (global)
    ties_scale: float = 0.3  # TIES: s
    dare_drop: float = 0.7  # DARE: drop rate p
    dare_scale: float = 1.0  # DARE: s
    dare_seed: int = 0  # DARE mask seed
    ensemble_c: float = 0.5  # output ensemble weight on the expert
    random_seed: int = 0  # seed of the random-lambda controls
    bmm_components: int = 3  # DaWin-BMM: Beta-mixture components per batch
    bmm_batch: int = 1024  # DaWin-BMM: samples per clustering batch

    def validate(self) -> None:
        """Reject unknown engines, methods and orders."""
        for key in ("engine", "batch_engine"):
            if getattr(self, key) not in ("dual", "delta", "naive"):
                raise ConfigError(f"{key} must be dual, delta or naive, got {getattr(self, key)!r}")
        if self.batch_agg not in ("mean_lambda", "lambda_of_mean_js"):
            raise ConfigError(f"batch_agg must be mean_lambda or lambda_of_mean_js, got {self.batch_agg!r}")
        if self.text_mode not in ("auto", "recompute", "approx_mix"):
            raise ConfigError(f"text_mode must be auto, recompute or approx_mix, got {self.text_mode!r}")
        if self.merge_dtype != "fp32":
            raise ConfigError(f"merge_dtype: only fp32 is supported, got {self.merge_dtype!r}")
        if self.unmerged_from not in ("expert", "base"):
            raise ConfigError(f"unmerged_from must be expert or base, got {self.unmerged_from!r}")
        if self.shuffle:
            raise ConfigError("shuffle: true is rejected: T3_B depends on data order (spec M12)")
        if self.merge_batch_size < 1 or self.batch_size < 1:
            raise ConfigError("merge_batch_size and batch_size must be >= 1")
        bad = [m for m in self.methods if m not in ALL_METHODS]
        if bad:
            raise ConfigError(f"unknown methods {bad}; choose from {', '.join(ALL_METHODS)}")
        self.coef.validate()
