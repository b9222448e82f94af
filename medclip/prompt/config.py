"""Typed settings of every few-shot method (one YAML per method in ``configs/fewshot/``).

A file sets ``method`` and the sections that method reads; the other sections keep their defaults and are
ignored. Defaults here are the BiomedCoOp-protocol values of spec §6 for CoOp; method files override them.
YAML 1.1 reads ``on``/``off`` as booleans, so ``text_dropout: off`` works as written in the spec.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import ConfigError

METHODS = (
    "zeroshot",
    "coop",
    "cocoop",
    "kgcoop",
    "prograd",
    "biomedcoop",
    "vmfcoop_ours",
    "clip_adapter",
    "tip_adapter",
    "tip_adapter_f",
    "linear_probe",
    "lp_plusplus",
)


@dataclass
class PromptCfg:
    n_ctx: int | None = None  # derived from ctx_init when that is set
    ctx_init: str | None = "a photo of a"  # None/"" = random N(0, 0.02²) init
    position: str = "end"  # end | middle | front (class-token position)
    csc: bool = False  # class-specific context
    text_dropout: bool = False  # off: text tower in eval() while training; on: dropout active
    chunk_size: int = 512  # CoCoOp: sequences per text forward


@dataclass
class OptimCfg:
    lr: float = 0.002
    batch_size: int = 32
    epochs: int = 100
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: int = 1
    warmup_lr: float = 1e-5
    drop_last: bool = True
    precision: str = "fp32"  # fp32 | amp_bf16 | amp_fp16
    max_steps: int | None = None  # stop after this many optimizer steps (cost cap for demo presets)

    def validate(self) -> None:
        if self.precision not in ("fp32", "amp_bf16", "amp_fp16"):
            raise ConfigError(f"optim.precision must be fp32, amp_bf16 or amp_fp16, got {self.precision!r}")
        if self.batch_size < 1 or self.epochs < 1 or self.lr <= 0:
            raise ConfigError("optim.batch_size and optim.epochs must be >= 1 and optim.lr > 0")


@dataclass
class KgCoOpCfg:
    weight: float = 8.0  # W
    distance: str = "one_minus_cos"  # one_minus_cos | squared_l2 (= 2x for unit vectors)


@dataclass
class ProGradCfg:
    lam: float = 1.0  # λ of the projection
    T: float = 1.0  # distillation temperature


@dataclass
class BiomedCoOpCfg:
    n_prompts: int = 50  # N bank descriptions per class (positional templates)
    lambda_sccm: float = 1.0
    lambda_kdsp: float = 1.0
    tau: float = 1.5
    selection_mode: str = "zscore"  # zscore | reference | robust
    kd_reduction: str = "sum_div_BC"  # sum_div_BC | batchmean
    bank_dedupe: bool = False  # only affects the class means t_all


@dataclass
class VmfCfg:
    lambda_sa: float = 1.0
    lambda_sc: float = 0.5
    tau_sc: float = 0.07
    sce_mode: str = "clip"  # clip | wang2019
    anchor_weighting: str = "kappa"  # kappa | uniform
    dedupe: bool = True
    newton_steps: int = 2


@dataclass
class ClipAdapterCfg:
    variant: str = "biomedcoop"  # biomedcoop (α 0.5, normalized input) | original (α 0.2, unnormalized)
    alpha: float = 0.5
    reduction: int = 4


@dataclass
class TipCfg:
    init_alphas: list[float] = field(default_factory=lambda: [1.0])  # one Tip-F trained per value
    init_beta: float = 1.0
    grid_min: float = 0.1
    grid_max: float = 50.0
    grid_steps: int = 200
    eps: float = 1e-4  # AdamW eps (Tip-Adapter-F)
    tie_break: str = "val_ce"  # among equal val accuracies: val_ce (lowest val cross-entropy) | first (grid order)


@dataclass
class LinearProbeCfg:
    Cs: list[float] = field(default_factory=lambda: [1e6, 1e4, 1e2, 1.0, 1e-2, 1e-4, 1e-6])
    n_bisect: int = 8


@dataclass
class LPPlusPlusCfg:
    epochs: int = 300  # full-batch epochs
    alpha_every: int = 10  # α takes a gradient step every this many epochs
    momentum: float = 0.9  # SGD momentum of W_v and b
    alpha_init_scale: float = 250.0  # α_c init = scale / K · (centroid_c · t_c)
    w_lr_factor: float = 4.0  # lr of W_v, b = factor · N / λ_max(FᵀF)


@dataclass
class FewShotMethodConfig:
    method: str = "coop"
    feature_views: int = 8  # augmented views per support image, encoded once and cached
    aug: str = "biomedcoop"  # biomedcoop (random resized crop, no flip) | coop_original (+ flip)
    aug_min_scale: float = 0.08  # lower bound of the random-resized-crop area scale
    test_per_class: int | None = None  # evaluate on the first n test images per class (CoCoOp cost cap)
    # the zero-shot classifier methods build on (KgCoOp anchor, ProGrad teacher, CLIP-/Tip-Adapter weights):
    # "template" = "a photo of a {c}." (the papers), "suite" = the suite's prompt ensemble (the zero-shot row)
    zs_prior: str = "template"
    prompt: PromptCfg = field(default_factory=PromptCfg)
    optim: OptimCfg = field(default_factory=OptimCfg)
    kgcoop: KgCoOpCfg = field(default_factory=KgCoOpCfg)
    prograd: ProGradCfg = field(default_factory=ProGradCfg)
    biomedcoop: BiomedCoOpCfg = field(default_factory=BiomedCoOpCfg)
    vmf: VmfCfg = field(default_factory=VmfCfg)
    clip_adapter: ClipAdapterCfg = field(default_factory=ClipAdapterCfg)
    tip: TipCfg = field(default_factory=TipCfg)
    linear_probe: LinearProbeCfg = field(default_factory=LinearProbeCfg)
    lp_plusplus: LPPlusPlusCfg = field(default_factory=LPPlusPlusCfg)

    def validate(self) -> None:
        if self.method not in METHODS:
            import difflib

            close = difflib.get_close_matches(self.method, METHODS, n=3)
            raise ConfigError(
                f"unknown method {self.method!r}; choose from {', '.join(METHODS)}"
                + (f" (did you mean {close[0]}?)" if close else "")
            )
        if self.feature_views < 1:
            raise ConfigError("feature_views must be >= 1")
        if self.tip.tie_break not in ("val_ce", "first"):
            raise ConfigError(f"tip.tie_break must be val_ce or first, got {self.tip.tie_break!r}")
        if self.zs_prior not in ("template", "suite"):
            raise ConfigError(f"zs_prior must be template or suite, got {self.zs_prior!r}")
        if not 0.0 < self.aug_min_scale <= 1.0:
            raise ConfigError(f"aug_min_scale must be in (0, 1], got {self.aug_min_scale}")
        if self.aug not in ("biomedcoop", "coop_original"):
            raise ConfigError(f"aug must be biomedcoop or coop_original, got {self.aug!r}")
