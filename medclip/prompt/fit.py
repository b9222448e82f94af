"""One entry point over every few-shot method: build it from a :class:`FewShotMethodConfig`, fit, predict.

``fit_fewshot`` only ever receives training features and a :class:`~medclip.adapters.valsplit.ValSplit`;
test features are seen only by the returned predictor, after fitting.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from ..adapters.clip_adapter import ClipAdapter
from ..adapters.linear_probe import fit_linear_probe
from ..adapters.lp_plusplus import fit_lp_plusplus
from ..adapters.tip_adapter import TipAdapterF, beta_alpha_grid, build_cache, search_alpha_beta, tip_logits
from ..adapters.valsplit import ValSplit, require_val
from .base import ZS_TEMPLATE, CoOp, encode_prompts_eval, frozen_scale, zero_shot_weights
from .biomedcoop import BiomedCoOp
from .cocoop import CoCoOp
from .config import FewShotMethodConfig
from .engine import train_learner
from .kgcoop import KgCoOp
from .prograd import ProGrad
from .vmfcoop import VmfCoOpOurs

PROMPT_METHODS = ("coop", "cocoop", "kgcoop", "prograd", "biomedcoop", "vmfcoop_ours")
# methods built on a zero-shot classifier (``cfg.zs_prior``); the others never encode it
PRIOR_METHODS = ("kgcoop", "prograd", "clip_adapter", "tip_adapter", "tip_adapter_f", "lp_plusplus")


class Predictor:
    """A fitted method: ``predict_logits(features) -> (N, C)`` plus what was selected (``info``)."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], info: dict | None = None, module=None):
        self._fn, self.info, self.module = fn, info or {}, module

    @torch.no_grad()
    def predict_logits(self, feats: torch.Tensor) -> torch.Tensor:
        return self._fn(feats).float()


def build_prompt_learner(
    cfg: FewShotMethodConfig,
    model,
    tokenizer,
    classnames: Sequence[str],
    *,
    bank: dict | None = None,
    seed: int = 0,
    prior_weights: torch.Tensor | None = None,
):
    """Instantiate the prompt learner named by ``cfg.method``.

    ``prior_weights`` (``(C, d)``) replace the "a photo of a {c}." zero-shot classifier as KgCoOp's anchor
    and ProGrad's teacher (see :func:`prior_weights`).
    """
    p = cfg.prompt
    common = dict(
        n_ctx=p.n_ctx,
        ctx_init=p.ctx_init or None,
        position=p.position,
        csc=p.csc,
        text_dropout=p.text_dropout,
        seed=seed,
    )
    m = cfg.method
    if m == "coop":
        return CoOp(model, tokenizer, classnames, **common)
    if m == "cocoop":
        return CoCoOp(model, tokenizer, classnames, chunk_size=p.chunk_size, **common)
    if m == "kgcoop":
        k = cfg.kgcoop
        return KgCoOp(
            model, tokenizer, classnames, weight=k.weight, distance=k.distance, anchor_weights=prior_weights, **common
        )
    if m == "prograd":
        g = cfg.prograd
        return ProGrad(model, tokenizer, classnames, lam=g.lam, T=g.T, teacher_weights=prior_weights, **common)
    if bank is None:
        raise ValueError(f"method {m!r} needs a prompt bank (JSON class -> descriptions)")
    if m == "biomedcoop":
        b = cfg.biomedcoop
        return BiomedCoOp(
            model,
            tokenizer,
            classnames,
            bank=bank,
            n_prompts=b.n_prompts,
            lambda_sccm=b.lambda_sccm,
            lambda_kdsp=b.lambda_kdsp,
            tau=b.tau,
            selection_mode=b.selection_mode,
            kd_reduction=b.kd_reduction,
            bank_dedupe=b.bank_dedupe,
            **common,
        )
    if m == "vmfcoop_ours":
        v = cfg.vmf
        return VmfCoOpOurs(
            model,
            tokenizer,
            classnames,
            bank=bank,
            lambda_sa=v.lambda_sa,
            lambda_sc=v.lambda_sc,
            tau_sc=v.tau_sc,
            sce_mode=v.sce_mode,
            anchor_weighting=v.anchor_weighting,
            dedupe=v.dedupe,
            newton_steps=v.newton_steps,
            **common,
        )
    raise ValueError(f"{m!r} is not a prompt learner")


def prior_weights(
    cfg: FewShotMethodConfig, model, tokenizer, classnames: Sequence[str], class_prompts=None
) -> torch.Tensor:
    """The zero-shot classifier ``(C, d)`` that methods build on, chosen by ``cfg.zs_prior``.

    ``template``: "a photo of a {c}." (the papers' choice). ``suite``: the ensemble of ``class_prompts`` (the
    suite's zero-shot prompts, i.e. exactly the classifier of the report's zero-shot row).
    """
    if cfg.zs_prior == "suite":
        if class_prompts is None:
            raise ValueError("zs_prior=suite needs the suite's class prompts (class_prompts)")
        if len(class_prompts) != len(classnames):
            raise ValueError(f"{len(class_prompts)} prompt lists for {len(classnames)} classes")
        return encode_prompts_eval(model, tokenizer, class_prompts)
    return zero_shot_weights(model, tokenizer, classnames)


def _zero_shot_predictor(model, tokenizer, classnames, class_prompts, scale) -> Predictor:
    """The ``zeroshot`` method: ``class_prompts`` ensembled, or "a photo of a {c}." without them."""
    prompts = class_prompts or [[ZS_TEMPLATE.format(c)] for c in classnames]
    w = encode_prompts_eval(model, tokenizer, prompts)
    return Predictor(lambda f: scale * F.normalize(f.float(), dim=-1) @ w.t())


def _optim_kwargs(cfg: FewShotMethodConfig) -> dict:
    o = cfg.optim
    return dict(
        lr=o.lr,
        batch_size=o.batch_size,
        epochs=o.epochs,
        momentum=o.momentum,
        weight_decay=o.weight_decay,
        warmup_epochs=o.warmup_epochs,
        warmup_lr=o.warmup_lr,
        drop_last=o.drop_last,
        precision=o.precision,
        max_steps=o.max_steps,
    )


def fit_fewshot(
    cfg: FewShotMethodConfig,
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
        cfg: the method config.
        model, tokenizer: the frozen CLIP model (text side used by prompt learners and zero-shot weights).
        classnames: class names in label order.
        train_views: ``(V, N, d)`` cached features of V augmented views of the N support images.
        train_labels: ``(N,)`` labels.
        val: the validation split (the only data selection code sees).
        bank: prompt bank for ``biomedcoop`` / ``vmfcoop_ours``.
        seed: training seed.
        features: optional callable ``(idx, epoch) -> (B, d)`` used instead of the cache (benchmark).
        class_prompts: the suite's prompts per class: the ``zeroshot`` method's classifier (default
            "a photo of a {}.") and, with ``zs_prior=suite``, the prior of the other methods.
    """
    require_val(val)
    m, C = cfg.method, len(classnames)
    torch.manual_seed(seed)
    views = train_views if train_views.dim() == 3 else train_views.unsqueeze(0)
    source = features if features is not None else views
    scale = frozen_scale(model)
    if m == "zeroshot":
        return _zero_shot_predictor(model, tokenizer, classnames, class_prompts, scale)
    w0 = prior_weights(cfg, model, tokenizer, classnames, class_prompts) if m in PRIOR_METHODS else None
    if m in PROMPT_METHODS:
        learner = build_prompt_learner(cfg, model, tokenizer, classnames, bank=bank, seed=seed, prior_weights=w0)
        hist = train_learner(learner, source, train_labels, seed=seed, **_optim_kwargs(cfg))
        return Predictor(learner.predict_logits, {"final_loss": hist[-1]}, learner)
    if m == "clip_adapter":
        a = cfg.clip_adapter
        head = ClipAdapter(w0, scale, alpha=a.alpha, reduction=a.reduction, variant=a.variant)
        kw = _optim_kwargs(cfg)
        hist = train_learner(head, source, train_labels, seed=seed, **kw)
        return Predictor(head.predict_logits, {"final_loss": hist[-1]}, head)
    keys, values = build_cache(views, train_labels, C)
    grid = beta_alpha_grid(cfg.tip.grid_min, cfg.tip.grid_max, cfg.tip.grid_steps)
    if m == "tip_adapter":
        alpha, beta, acc = search_alpha_beta(val, keys, values, w0, scale, grid, cfg.tip.tie_break)
        return Predictor(
            lambda f: tip_logits(F.normalize(f.float(), dim=-1), keys, values, w0, scale, alpha, beta),
            {"residual_ratio": alpha, "sharpness": beta, "val_acc": acc},
        )
    if m == "tip_adapter_f":
        return _fit_tip_f(cfg, keys, values, w0, scale, source, train_labels, val, seed)
    if m == "linear_probe":
        feats = F.normalize(views[0].float(), dim=-1)  # one augmented pass (spec §5.9)
        probe = fit_linear_probe(
            feats,
            train_labels,
            F.normalize(val.features.float(), dim=-1),
            val.labels,
            Cs=cfg.linear_probe.Cs,
            seed=seed,
            n_bisect=cfg.linear_probe.n_bisect,
        )
        full = torch.full((C,), -1e4)

        def lp_logits(f):
            proba = torch.from_numpy(probe.predict_proba(F.normalize(f.float(), dim=-1))).float()
            out = full.repeat(len(f), 1)
            out[:, torch.as_tensor(probe.classes_)] = proba.clamp_min(1e-12).log()
            return out

        return Predictor(lp_logits, {"C": probe.C, "val_acc": probe.val_accuracy})
    if m == "lp_plusplus":
        c = cfg.lp_plusplus
        head, info = fit_lp_plusplus(
            views[0],  # one augmented pass, as the linear probe
            train_labels,
            w0,
            val,
            epochs=c.epochs,
            alpha_every=c.alpha_every,
            momentum=c.momentum,
            alpha_init_scale=c.alpha_init_scale,
            w_lr_factor=c.w_lr_factor,
        )
        return Predictor(head.predict_logits, info, head)
    raise ValueError(f"unknown method {m!r}")


def _fit_tip_f(cfg, keys, values, w0, scale, source, labels, val, seed) -> Predictor:
    """Train one Tip-F per initial α, keep the best validation epoch, then grid-search α/β on val."""
    o, best = cfg.optim, None
    for init_alpha in cfg.tip.init_alphas:
        head = TipAdapterF(keys, values, w0, scale, residual_ratio=init_alpha, sharpness=cfg.tip.init_beta)
        state = {"acc": -1.0, "sd": None, "epoch": -1}

        def on_epoch_end(epoch, head=head, state=state):
            acc = head.val_accuracy(val)
            if acc > state["acc"]:
                state.update(acc=acc, sd=head.snapshot(), epoch=epoch)

        n = len(labels)
        iters = max(1, n // o.batch_size) if (o.drop_last and n >= o.batch_size) else max(1, -(-n // o.batch_size))
        total = o.epochs * iters

        def lr_at(epoch, it, _iters, total=total, iters=iters):
            return o.lr * 0.5 * (1 + math.cos(math.pi * (epoch * iters + it) / total))

        train_learner(
            head,
            source,
            labels,
            seed=seed,
            make_optimizer=lambda p, lr: torch.optim.AdamW(p, lr=lr, eps=cfg.tip.eps),
            lr_at=lr_at,
            on_epoch_end=on_epoch_end,
            **_optim_kwargs(cfg),
        )
        head.load_state_dict(state["sd"])
        if best is None or state["acc"] > best[0]:
            best = (state["acc"], head, state["epoch"], init_alpha)
    _, head, epoch, init_alpha = best
    tuned_keys = head.cache_keys.weight.detach()
    grid = beta_alpha_grid(cfg.tip.grid_min, cfg.tip.grid_max, cfg.tip.grid_steps)
    alpha, beta, acc = search_alpha_beta(val, tuned_keys, values, w0, scale, grid, cfg.tip.tie_break)
    head.residual_ratio, head.sharpness = alpha, beta
    return Predictor(
        head.predict_logits,
        {
            "best_epoch": epoch,
            "init_alpha": init_alpha,
            "residual_ratio": alpha,
            "sharpness": beta,
            "val_acc": acc,
        },
        head,
    )


def transfer(
    predictor: Predictor,
    cfg: FewShotMethodConfig,
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
    m, scale = cfg.method, frozen_scale(model)
    if m == "zeroshot":
        return _zero_shot_predictor(model, tokenizer, classnames, class_prompts, scale)
    src = predictor.module
    if m in PROMPT_METHODS:
        if cfg.prompt.csc:
            raise ValueError("class-specific contexts cannot be transferred to new classes")
        p = cfg.prompt
        kw = dict(n_ctx=src.text.n_ctx, ctx_init=p.ctx_init or None, position=p.position)
        if m == "cocoop":
            new = CoCoOp(model, tokenizer, classnames, chunk_size=p.chunk_size, **kw)
        else:
            new = CoOp(model, tokenizer, classnames, **kw)
        new.load_state_dict(src.state_dict(), strict=True)
        return Predictor(new.predict_logits, dict(predictor.info), new)
    if m == "clip_adapter":
        a = cfg.clip_adapter
        new = ClipAdapter(
            prior_weights(cfg, model, tokenizer, classnames, class_prompts),
            scale,
            alpha=a.alpha,
            reduction=a.reduction,
            variant=a.variant,
        )
        new.load_state_dict(src.state_dict(), strict=True)
        return Predictor(new.predict_logits, dict(predictor.info), new)
    raise ValueError(f"method {m!r} cannot classify classes unseen in training (no base-to-novel)")
