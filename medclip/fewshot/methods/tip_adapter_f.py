"""Tip-Adapter-F (Zhang et al., ECCV'22): the Tip-Adapter cache keys fine-tuned, best validation epoch kept.

Reads ``cfg.tip`` (shared with Tip-Adapter) and ``cfg.optim``; the head is :class:`TipAdapterF`.
"""

from __future__ import annotations

import math

import torch

from ..engine import optim_kwargs, train_learner
from ..registry import FewShotMethod, FitInputs, Predictor, register_method
from .tip_adapter import TipAdapterF, TipCfg, build_cache, search_alpha_beta, tip_grid


def _cosine_lr(o, n: int):
    """Per-iteration cosine schedule of the Tip-Adapter-F code (no warm-up) for ``n`` support images."""
    iters = max(1, n // o.batch_size) if (o.drop_last and n >= o.batch_size) else max(1, -(-n // o.batch_size))
    total = o.epochs * iters

    def lr_at(epoch, it, _iters):
        return o.lr * 0.5 * (1 + math.cos(math.pi * (epoch * iters + it) / total))

    return lr_at


def _train_one(inp: FitInputs, keys, values, init_alpha: float):
    """One Tip-F from initial α; returns ``(best val accuracy, head at that epoch, epoch)``."""
    cfg = inp.cfg
    head = TipAdapterF(keys, values, inp.prior, inp.scale, residual_ratio=init_alpha, sharpness=cfg.tip.init_beta)
    state = {"acc": -1.0, "sd": None, "epoch": -1}

    def on_epoch_end(epoch):
        acc = head.val_accuracy(inp.val)
        if acc > state["acc"]:
            state.update(acc=acc, sd=head.snapshot(), epoch=epoch)

    train_learner(
        head,
        inp.source,
        inp.labels,
        seed=inp.seed,
        make_optimizer=lambda p, lr: torch.optim.AdamW(p, lr=lr, eps=cfg.tip.eps),
        lr_at=_cosine_lr(cfg.optim, len(inp.labels)),
        on_epoch_end=on_epoch_end,
        **optim_kwargs(cfg),
    )
    head.load_state_dict(state["sd"])
    return state["acc"], head, state["epoch"]


@register_method("tip_adapter_f", cost=30, uses_prior=True, section="tip", config=TipCfg)
class TipAdapterFMethod(FewShotMethod):
    """Train one Tip-F per initial α, keep the best validation epoch, then grid-search α/β on val."""

    trainable = ("cache_keys.weight",)

    def fit(self, inp: FitInputs) -> Predictor:
        keys, values = build_cache(inp.views, inp.labels, inp.num_classes)
        best = None
        for init_alpha in inp.cfg.tip.init_alphas:
            acc, head, epoch = _train_one(inp, keys, values, init_alpha)
            if best is None or acc > best[0]:
                best = (acc, head, epoch, init_alpha)
        _, head, epoch, init_alpha = best
        tuned_keys = head.cache_keys.weight.detach()
        alpha, beta, acc = search_alpha_beta(
            inp.val, tuned_keys, values, inp.prior, inp.scale, tip_grid(inp.cfg), inp.cfg.tip.tie_break
        )
        head.residual_ratio, head.sharpness = alpha, beta
        info = {"best_epoch": epoch, "init_alpha": init_alpha, "residual_ratio": alpha, "sharpness": beta}
        return Predictor(head.predict_logits, {**info, "val_acc": acc}, head)
