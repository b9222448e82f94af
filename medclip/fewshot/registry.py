"""The few-shot method registry and the interface every method implements.

A method is one file in :mod:`medclip.fewshot.methods` (or a user's module, see ``docs/fewshot.md``)::

    @METHODS.register("my_method", cost=15, uses_prior=True, section="my_method", config=MyCfg)
    class MyMethod(FewShotMethod):
        def fit(self, inp: FitInputs) -> Predictor: ...

This module only defines the registry: the built-in methods register when :mod:`medclip.fewshot.methods`
is imported, which ``medclip.fewshot.METHODS``, ``fit_fewshot``, ``presets.resolve`` and the config class do.

Metadata read by the library and the runner (every key has a default, see :data:`DEFAULT_META`):

* ``cost``: relative fitting cost; ``medclip-fewshot --method all`` runs methods cheapest first;
* ``uses_support``: fits on the support set (False: the ``zeroshot`` row, one record with K = 0);
* ``uses_bank``: needs a prompt bank (class -> descriptions);
* ``uses_prior``: builds on a zero-shot classifier (``cfg.zs_prior``), passed in as ``FitInputs.prior``;
* ``base_to_novel``: can classify classes unseen in training (has a ``transfer``);
* ``prompt_learner``: a CoOp-family learner over the text tower (``build`` returns an ``nn.Module``);
* ``test_cost``: ``"per_class"`` (one classifier for the whole test split) or ``"per_image"`` (text
  encodes per test image, e.g. CoCoOp: presets cap the test split with ``test_per_class``);
* ``section`` / ``config``: the method's settings: ``cfg.<section>`` holds a ``config`` dataclass
  (methods that share settings name the same section, e.g. both Tip-Adapters read ``cfg.tip``);
* ``defaults``: the method's default YAML when it is not shipped in ``configs/fewshot/<name>.yaml``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from medclip.registry import Registry

from .valsplit import ValSplit

DEFAULT_META: dict[str, Any] = {
    "cost": 50,
    "uses_support": True,
    "uses_bank": False,
    "uses_prior": False,
    "base_to_novel": False,
    "prompt_learner": False,
    "test_cost": "per_class",
    "section": None,
    "config": None,
    "defaults": None,
}


class Predictor:
    """A fitted method: ``predict_logits(features) -> (N, C)`` plus what was selected (``info``)."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], info: dict | None = None, module=None):
        self._fn, self.info, self.module = fn, info or {}, module

    @torch.no_grad()
    def predict_logits(self, feats: torch.Tensor) -> torch.Tensor:
        return self._fn(feats).float()


@dataclass
class FitInputs:
    """Everything a method's ``fit`` may use (training data and the validation split only, never test).

    Attributes:
        cfg: the resolved method config (``cfg.<section>`` holds the method's own settings).
        model, tokenizer: the frozen CLIP model and its tokenizer.
        classnames: class names in label order.
        views: ``(V, N, d)`` cached features of V augmented views of the N support images.
        source: what a trained head iterates over: ``views`` or a ``(idx, epoch) -> (B, d)`` callable.
        labels: ``(N,)`` support labels.
        val: the validation split (the only data model selection sees).
        bank: the prompt bank (methods with ``uses_bank``).
        seed: training seed.
        class_prompts: the suite's prompts per class (the zero-shot classifier's ensemble).
        scale: ``exp(logit_scale)`` of the frozen model.
        prior: ``(C, d)`` zero-shot classifier for methods with ``uses_prior`` (else None).
    """

    cfg: Any
    model: Any
    tokenizer: Any
    classnames: Sequence[str]
    views: torch.Tensor
    source: Any
    labels: torch.Tensor
    val: ValSplit
    bank: dict | None
    seed: int
    class_prompts: Sequence[Sequence[str]] | None
    scale: torch.Tensor
    prior: torch.Tensor | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classnames)


class FewShotMethod:
    """Base of every registered method: ``fit`` (required) and ``transfer`` (base-to-novel methods).

    ``trainable`` lists (fnmatch patterns of) the parameter names of ``Predictor.module`` that ``fit`` trains;
    the registry-wide contract test checks that they, and only they, require gradients.
    """

    trainable: tuple[str, ...] = ()

    def fit(self, inp: FitInputs) -> Predictor:
        raise NotImplementedError

    def transfer(self, predictor: Predictor, cfg, model, tokenizer, classnames, class_prompts=None) -> Predictor:
        """The fitted method applied to other classes; methods without ``base_to_novel`` cannot."""
        raise ValueError(f"method {cfg.method!r} cannot classify classes unseen in training (no base-to-novel)")


METHODS: Registry[type[FewShotMethod]] = Registry("few-shot method")


def register_method(name: str, **meta: Any) -> Callable:
    """``@register_method(name, **meta)``: register a :class:`FewShotMethod` subclass (see module doc)."""
    unknown = set(meta) - set(DEFAULT_META)
    if unknown:
        raise ValueError(f"unknown few-shot method metadata {sorted(unknown)}; known: {', '.join(DEFAULT_META)}")
    full = {**DEFAULT_META, **meta}
    if full["config"] is not None and full["section"] is None:
        full["section"] = name
    return METHODS.register(name, **full)


def method_meta(name: str) -> dict[str, Any]:
    """The metadata of method ``name`` (every key of :data:`DEFAULT_META`)."""
    return {**DEFAULT_META, **METHODS.meta(name)}


def get_method(name: str) -> FewShotMethod:
    """An instance of method ``name``; unknown names raise ValueError with the closest registered ones."""
    return METHODS.get(name)()


def cheapest_first(names: Sequence[str] | None = None) -> list[str]:
    """``names`` (default: every registered method) ordered by ``cost``, registration order among equals."""
    names = list(METHODS) if names is None else list(names)
    return sorted(names, key=lambda n: method_meta(n)["cost"])
