"""The merge-method registry: every static merge, output ensemble, DaWin variant, T3 / T3_B and control.

A method is one function ``fn(ctx: MergeContext, cfg) -> value`` registered with its ``kind``; ``cfg`` is its
typed settings section (``merge.params.<section>``, a dataclass given as ``config=``) or None. What ``value``
is depends on the kind, and :func:`medclip.merge.t3.run_methods` does the rest:

============== ============================================== =============================================
kind           the function returns                           the runner
============== ============================================== =============================================
``endpoint``   ``(N, C)`` scores of a stock model             argmax; no merge (base, expert)
``static``     a partial state dict (``medclip.merge.static``) builds that one model, evaluates it
``per_sample`` ``(N,)`` lambda, the weight on the base model   merges per sample with ``merge.engine``
``batch``      ``(N,)`` lambda, constant over runs of samples  merges with ``merge.batch_engine`` (T3_B ...)
``output``     ``(N, C)`` probabilities (output space)        argmax; no merge (the ensemble)
============== ============================================== =============================================

A function may also return :class:`Outcome` (to attach notes or a reported lambda) or yield several
``Outcome(value, name=...)`` (a sweep: ``wise_ft@0.3``). Built-in methods live one family per file in
:mod:`medclip.merge.methods`; a method of another package is one file declared in the entry-point group
``medclip.merge_methods`` (see docs/merging.md, "Adding a merge method")::

    @register_merge_method("half", kind="static")
    def half(ctx, cfg):
        '''``lerp(theta_e, theta_b, 0.5)``.'''
        return ctx.pair.merged_state_dict(0.5)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..plugins import PluginRegistry
from .pair import MergePair

KINDS = ("endpoint", "static", "per_sample", "batch", "output")
ENTRY_POINT_GROUP = "medclip.merge_methods"
MERGE_METHODS: PluginRegistry[Callable] = PluginRegistry("merge method", ENTRY_POINT_GROUP)


@dataclass
class MergeContext:
    """What a method may read: the pair, the images and the shared pass A (both endpoint models).

    Attributes:
        pair: the validated base / expert pair.
        images: ``(N, 3, H, W)`` preprocessed images in dataset order.
        cos_b, cos_e: ``(N, C)`` cosine logits of the base and the expert.
        p_b, p_e: ``(N, C)`` float64 class probabilities used by every coefficient (``merge.coef.prob_mode``).
        js: ``(N,)`` Jensen-Shannon divergence of ``p_b`` and ``p_e``.
        lam_t3: ``(N,)`` T3's per-sample lambda from ``js``.
        merge: the whole :class:`~medclip.merge.config.MergeConfig` (coefficient, engines, T3_B batch).
    """

    pair: MergePair
    images: torch.Tensor
    cos_b: torch.Tensor
    cos_e: torch.Tensor
    p_b: torch.Tensor
    p_e: torch.Tensor
    js: torch.Tensor
    lam_t3: torch.Tensor
    merge: Any  # MergeConfig (not imported here: medclip.merge.config imports this module)

    @property
    def n(self) -> int:
        """Number of images."""
        return len(self.images)


@dataclass
class Outcome:
    """A method's value with its report name and notes (see the table in this module's docstring)."""

    value: Any
    name: str | None = None  # default: the method's name; sweeps give each variant its own
    notes: list[str] = field(default_factory=list)
    lam: torch.Tensor | None = None  # endpoint / output kinds: the lambda to report (base = 1, expert = 0)


def register_merge_method(
    name: str,
    *,
    kind: str,
    config: type | None = None,
    section: str | None = None,
    replace: bool = False,
    **meta: Any,
) -> Callable[[Callable], Callable]:
    """Decorator registering a merge method.

    Args:
        name: the name ``merge.methods`` lists.
        kind: one of :data:`KINDS`.
        config: the dataclass of its settings (``merge.params.<section>``), or None for none.
        section: the settings section name (default: ``name``); methods sharing settings share a section
            (the three random controls use ``random``) and must declare the same ``config``.
        replace: override a registered method of the same name.
        **meta: further metadata: ``t3_coef=True`` (uses T3's coefficient: the ``coef_target=expert``
            ablation is noted), ``coef_stats=True`` (lambda histogram over T3's theoretical range),
            ``endpoints={"base": [...], "expert": [...]}``: merge-config overrides (``params.ties.scale=0``,
            ``coef.lambda_min=1``) under which the method must reproduce that endpoint model exactly (the
            registry-wide contract test checks it).

    Returns:
        The decorator (it returns the function unchanged).
    """
    if kind not in KINDS:
        raise ValueError(f"merge method {name!r}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    sect = section or name
    if config is not None:
        for other in MERGE_METHODS.names(section=sect):
            theirs = MERGE_METHODS.meta(other)["config"]
            if other != name and theirs is not config:
                raise ValueError(f"merge method {name!r}: section {sect!r} already holds {theirs.__name__}")
    return MERGE_METHODS.register(name, replace=replace, kind=kind, config=config, section=sect, **meta)


def sections() -> dict[str, type]:
    """``{section: config dataclass}`` over the registered methods that have settings (registration order)."""
    out: dict[str, type] = {}
    for n in MERGE_METHODS.names():
        m = MERGE_METHODS.meta(n)
        if m.get("config") is not None:
            out.setdefault(m["section"], m["config"])
    return out


__all__ = ["ENTRY_POINT_GROUP", "KINDS", "MERGE_METHODS", "MergeContext", "Outcome", "register_merge_method",
           "sections"]  # fmt: skip
