"""Typed settings of every few-shot method: common fields plus one section per registered method.

:class:`FewShotMethodConfig` holds what every method reads (``method``, the feature cache and augmentation,
the zero-shot prior, ``prompt``, ``optim``) and one field per *section* that the registered methods declare
(``@register_method(name, section=..., config=SectionDataclass)``): ``kgcoop``, ``prograd``, ``biomedcoop``,
``vmf``, ``clip_adapter``, ``tip``, ``linear_probe``, ``lp_plusplus`` for the built-in ones. The class is
assembled from the registry, so a method registered from its own file adds its section without an edit
here. Settings come from ``configs/fewshot/<method>.yaml`` plus a preset overlay (``configs/fewshot/presets/``,
see :func:`medclip.fewshot.presets.resolve`). YAML 1.1 reads ``on``/``off`` as booleans.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..config import ConfigError
from .registry import METHODS, method_meta


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
class CommonCfg:
    """The fields every method reads; :class:`FewShotMethodConfig` adds the method sections."""

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

    def validate(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(METHODS.unknown_message(self.method))
        if self.feature_views < 1:
            raise ConfigError("feature_views must be >= 1")
        if self.zs_prior not in ("template", "suite"):
            raise ConfigError(f"zs_prior must be template or suite, got {self.zs_prior!r}")
        if not 0.0 < self.aug_min_scale <= 1.0:
            raise ConfigError(f"aug_min_scale must be in (0, 1], got {self.aug_min_scale}")
        if self.aug not in ("biomedcoop", "coop_original"):
            raise ConfigError(f"aug must be biomedcoop or coop_original, got {self.aug!r}")
        for f in dataclasses.fields(self):
            check = getattr(getattr(self, f.name), "validate", None)
            if f.name not in ("prompt", "optim") and callable(check):
                check()


def sections() -> dict[str, type]:
    """``{section name: its dataclass}`` over the registered methods (registration order)."""
    out: dict[str, type] = {}
    for name in METHODS:
        meta = method_meta(name)
        if meta["config"] is None:
            continue
        known = out.setdefault(meta["section"], meta["config"])
        if known is not meta["config"]:
            raise ValueError(f"methods declare two dataclasses for config section {meta['section']!r}")
    return out


_CACHE: dict[tuple, type] = {}


def config_class() -> type:
    """The :class:`FewShotMethodConfig` dataclass for the methods registered now (cached per section set)."""
    from . import methods  # noqa: F401  (the built-in methods register their sections)

    secs = sections()
    key = tuple(secs.items())
    if key not in _CACHE:
        cls = dataclasses.make_dataclass(
            "FewShotMethodConfig",
            [(name, sec, field(default_factory=sec)) for name, sec in secs.items()],
            bases=(CommonCfg,),
            namespace={"__doc__": "Common few-shot settings plus one section per registered method."},
        )
        cls.__module__ = __name__
        _CACHE[key] = cls
    return _CACHE[key]


def __getattr__(name: str):
    if name == "FewShotMethodConfig":
        return config_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
