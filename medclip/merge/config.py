"""Typed configuration of a merging run (spec sections 3 and 8); loaded with ``medclip.config``.

Shared settings (coefficient, engines, T3_B batch, scope, text mode) are fields of :class:`MergeConfig`; each
method's own settings are its section of ``params`` (``merge.params.ties.top_k=30``), the dataclass the method
registered with (:mod:`medclip.merge.methods`). The flat keys of earlier versions (``ties_top_k``,
``wise_alpha`` ...) are still read from YAML and overrides, with a DeprecationWarning naming the new place.
"""

from __future__ import annotations

import dataclasses
import difflib
import warnings
from dataclasses import dataclass, field
from typing import Any

from ..config import ConfigError, from_dict
from . import methods as _methods  # noqa: F401  (the built-in methods register themselves)
from .coef import CoefConfig
from .registry import MERGE_METHODS, sections

ALL_METHODS = tuple(MERGE_METHODS.names())  # the built-in methods, in report order (the default selection)

# flat key of earlier versions -> (section, key) of ``params``
LEGACY_KEYS = {
    "wise_alpha": ("wise_ft", "alpha"),
    "wise_sweep": ("wise_ft", "sweep"),
    "ta_scale": ("task_arithmetic", "scale"),
    "ties_top_k": ("ties", "top_k"),
    "ties_scale": ("ties", "scale"),
    "dare_drop": ("dare", "drop"),
    "dare_scale": ("dare", "scale"),
    "dare_seed": ("dare", "seed"),
    "ensemble_c": ("ensemble", "c"),
    "random_seed": ("random", "seed"),
    "bmm_components": ("dawin_bmm", "components"),
    "bmm_batch": ("dawin_bmm", "batch"),
}


def _section_class(name: str) -> type:
    if name not in sections():
        MERGE_METHODS.load_plugin(name)  # a plug-in's section is named after it: importing it registers it
    known = sections()
    if name not in known:
        close = difflib.get_close_matches(str(name), list(known), n=3, cutoff=0.4)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ConfigError(f"unknown merge.params section {name!r}.{hint} Sections: {', '.join(known)}")
    return known[name]


@dataclass
class MergeConfig:
    """Every setting of a T3 / baseline run. Defaults are medclip's documented choices for the unknowns."""

    coef: CoefConfig = field(default_factory=CoefConfig)
    engine: str = "dual"  # per-sample methods (t3, dawin, random): dual | delta | naive
    batch_engine: str = "naive"  # batch methods (t3_b, dawin_bmm): naive (one rebuild per merge batch) | dual | delta
    batch_agg: str = "mean_lambda"  # t3_b aggregator (t3_b_mean_js always uses lambda_of_mean_js)
    merge_batch_size: int = 32  # T3_B batch of consecutive samples (dataset order)
    merge_scope: list[str] = field(default_factory=lambda: ["all_differing"])  # or [vision] / [text] / regexes
    merge_logit_scale: bool = True  # merge logit_scale (and logit_bias) with the other tensors
    unmerged_from: str = "expert"  # tensors outside merge_scope take this model's values
    text_mode: str = "auto"  # auto (exact) | recompute (exact, rebuilds) | approx_mix (NOT exact, labeled)
    merge_dtype: str = "fp32"  # both state dicts are cast to fp32 before mixing (only fp32 is supported)
    batch_size: int = 64  # forward batch size
    shuffle: bool = False  # evaluation order; T3_B depends on it, so it must stay false
    methods: list[str] = field(default_factory=lambda: list(ALL_METHODS))  # registered names, run in this order
    params: dict[str, Any] = field(default_factory=dict)  # per-method sections, e.g. {ties: {top_k: 20.0}}

    def __post_init__(self) -> None:
        typed = {}
        for name, value in (self.params or {}).items():
            cls = _section_class(name)
            if dataclasses.is_dataclass(value):
                if not isinstance(value, cls):
                    raise ConfigError(f"merge.params.{name}: expected {cls.__name__}, got {type(value).__name__}")
                typed[name] = value
            elif isinstance(value, dict) or value is None:
                typed[name] = from_dict(cls, value or {}, f"merge.params.{name}")
            else:
                raise ConfigError(f"merge.params.{name}: expected a mapping, got {value!r}")
        for name, cls in sections().items():  # every known section, resolved (saved with the run)
            typed.setdefault(name, cls())
        self.params = typed

    @classmethod
    def _config_upgrade_(cls, data: dict, where: str = "") -> dict:
        """Map the flat per-method keys of earlier versions to their ``params`` section (DeprecationWarning)."""
        old = [k for k in data if k in LEGACY_KEYS]
        if not old:
            return data
        data = dict(data)
        params = {k: dict(v or {}) for k, v in (data.get("params") or {}).items()}
        for k in old:
            section, key = LEGACY_KEYS[k]
            new = f"{where + '.' if where else ''}params.{section}.{key}"
            warnings.warn(f"merge config key {k!r} is deprecated; use {new!r}", DeprecationWarning, stacklevel=2)
            params.setdefault(section, {}).setdefault(key, data.pop(k))
        data["params"] = params
        return data

    def section(self, name: str) -> Any:
        """The typed settings of section ``name`` (e.g. ``cfg.section("ties").top_k``)."""
        if name not in self.params:
            self.params[name] = _section_class(name)()
        return self.params[name]

    def method_config(self, method: str) -> Any:
        """The settings section of ``method`` (None for a method without settings)."""
        meta = MERGE_METHODS.meta(method)
        return None if meta.get("config") is None else self.section(meta["section"])

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
        bad = [m for m in self.methods if m not in MERGE_METHODS]
        if bad:
            raise ConfigError(f"merge.methods: {MERGE_METHODS.unknown_message(bad[0])}")
        self.coef.validate()
        for m in self.methods:  # a plug-in named only in `methods` gets its default section
            if MERGE_METHODS.meta(m).get("config") is not None:
                self.method_config(m)
