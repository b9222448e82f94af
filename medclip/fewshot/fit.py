"""One entry point over every registered few-shot method: fit it from a config, predict, transfer.

``fit_fewshot`` only ever receives training features and a :class:`~medclip.fewshot.valsplit.ValSplit`;
test features are seen only by the returned predictor, after fitting. The method named by ``cfg.method``
comes from :data:`~medclip.fewshot.registry.METHODS`; its metadata say what it needs (a zero-shot prior,
a prompt bank).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from . import methods  # noqa: F401  (registers the built-in methods)
from .learner import PromptMethod, frozen_scale, prior_weights
from .registry import FitInputs, Predictor, get_method, method_meta
from .valsplit import ValSplit, require_val


def build_prompt_learner(
    cfg,
    model,
    tokenizer,
    classnames: Sequence[str],
    *,
    bank: dict | None = None,
    seed: int = 0,
    prior_weights: torch.Tensor | None = None,
):
    """Instantiate the prompt learner named by ``cfg.method`` (a method registered with ``prompt_learner``).

    ``prior_weights`` (``(C, d)``) replace the "a photo of a {c}." zero-shot classifier as KgCoOp's anchor
    and ProGrad's teacher (see :func:`prior_weights`).
    """
    method = get_method(cfg.method)
    if not isinstance(method, PromptMethod):
        raise ValueError(f"{cfg.method!r} is not a prompt learner")
    return method.build(cfg, model, tokenizer, classnames, bank=bank, seed=seed, prior_weights=prior_weights)


def fit_fewshot(
    cfg,
    model,
    tokenizer,
    classnames: Sequence[str],
    *,
    train_views: torch.Tensor,
    train_labels: torch.Tensor,
    val: ValSplit,
    bank: dict | None = None,
    seed: int = 0,
    features: Callable | None = None,
    class_prompts: Sequence[Sequence[str]] | None = None,
) -> Predictor:
    """Fit ``cfg.method`` on support features and return its predictor.

    Args:
        cfg: the method config (:class:`~medclip.fewshot.config.FewShotMethodConfig`).
        model, tokenizer: the frozen CLIP model (text side used by prompt learners and zero-shot weights).
        classnames: class names in label order.
        train_views: ``(V, N, d)`` cached features of V augmented views of the N support images.
        train_labels: ``(N,)`` labels.
        val: the validation split (the only data selection code sees).
        bank: prompt bank of the methods registered with ``uses_bank``.
        seed: training seed.
        features: optional callable ``(idx, epoch) -> (B, d)`` used instead of the cache (benchmark).
        class_prompts: the suite's prompts per class: the ``zeroshot`` method's classifier (default
            "a photo of a {}.") and, with ``zs_prior=suite``, the prior of the other methods.
    """
    require_val(val)
    method = get_method(cfg.method)
    torch.manual_seed(seed)
    views = train_views if train_views.dim() == 3 else train_views.unsqueeze(0)
    prior = None
    if method_meta(cfg.method)["uses_prior"]:  # the prior is encoded only for the methods that use it
        prior = prior_weights(cfg, model, tokenizer, classnames, class_prompts)
    inp = FitInputs(
        cfg=cfg,
        model=model,
        tokenizer=tokenizer,
        classnames=list(classnames),
        views=views,
        source=features if features is not None else views,
        labels=train_labels,
        val=val,
        bank=bank,
        seed=seed,
        class_prompts=class_prompts,
        scale=frozen_scale(model),
        prior=prior,
    )
    return method.fit(inp)


def transfer(
    predictor: Predictor,
    cfg,
    model,
    tokenizer,
    classnames: Sequence[str],
    class_prompts: Sequence[Sequence[str]] | None = None,
) -> Predictor:
    """The fitted method applied to *other* classes (base-to-novel): learned context / adapter, new names.

    Prompt learners infer with the learned prompts only, so CoOp, KgCoOp, ProGrad, BiomedCoOp and
    vmfcoop_ours transfer as a CoOp with the learned ``ctx``; CoCoOp keeps its Meta-Net; CLIP-Adapter keeps
    its adapter with the new classes' zero-shot weights. Cache-based methods cannot name unseen classes.
    """
    return get_method(cfg.method).transfer(predictor, cfg, model, tokenizer, classnames, class_prompts)


__all__ = ["Predictor", "build_prompt_learner", "fit_fewshot", "prior_weights", "transfer"]
