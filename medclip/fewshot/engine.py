"""The few-shot training loop shared by prompt learners and trainable adapters (spec §4).

Image features come from a frozen tower, so the loop never runs it: ``features`` is either a cache
tensor ``(V, N, d)`` of V augmented views per training image (each sample draws one view per epoch), an
``(N, d)`` tensor, or a callable ``(indices, epoch) -> (B, d)`` (e.g. re-encoding augmented images every
step, which ``bench/fewshot.py`` compares against the cache).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable

import torch

from .schedule import dassl_lr, epoch_batches, make_sgd

log = logging.getLogger(__name__)

FeatureSource = torch.Tensor | Callable[[torch.Tensor, int], torch.Tensor]


def autocast_context(precision: str, device: torch.device | str = "cpu"):
    """``nullcontext`` for fp32, else ``torch.autocast`` with bf16 / fp16."""
    dev = torch.device(device).type
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "amp_bf16":
        return torch.autocast(dev, dtype=torch.bfloat16)
    if precision == "amp_fp16":
        return torch.autocast(dev, dtype=torch.float16)
    raise ValueError(f"precision must be fp32, amp_bf16 or amp_fp16, got {precision!r}")


def gather_features(features: FeatureSource, idx: torch.Tensor, epoch: int, gen: torch.Generator) -> torch.Tensor:
    """Features of the samples ``idx`` for this epoch (a random cached view per sample)."""
    if callable(features) and not isinstance(features, torch.Tensor):
        return features(idx, epoch)
    if features.dim() == 2:
        return features[idx.to(features.device)]
    views = torch.randint(features.shape[0], (len(idx),), generator=gen)
    return features[views.to(features.device), idx.to(features.device)]


def train_step(learner, opt, f: torch.Tensor, y: torch.Tensor, *, precision: str = "fp32", scaler=None) -> dict:
    """One optimizer step of ``learner`` on the batch ``(f, y)``; returns its loss dict."""
    opt.zero_grad(set_to_none=True)
    with autocast_context(precision, f.device):
        out = learner.loss(f, y)
    learner.backward(out, scaler)
    if scaler is not None:
        scaler.step(opt)
        scaler.update()
    else:
        opt.step()
    return out


def train_learner(
    learner: torch.nn.Module,
    features: FeatureSource,
    labels: torch.Tensor,
    *,
    lr: float,
    batch_size: int,
    epochs: int,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    warmup_epochs: int = 1,
    warmup_lr: float = 1e-5,
    drop_last: bool = True,
    precision: str = "fp32",
    seed: int = 0,
    make_optimizer: Callable | None = None,
    lr_at: Callable[[int, int, int], float] | None = None,
    on_epoch_end: Callable[[int], None] | None = None,
    max_steps: int | None = None,
) -> list[dict[str, float]]:
    """Train ``learner`` (``loss``/``backward``/``set_mode`` contract) and return per-epoch mean losses.

    Defaults are Dassl's: SGD (momentum 0.9, wd 5e-4) on trainable parameters, one warm-up epoch at
    ``warmup_lr``, then cosine stepped once per epoch; a fresh random order each epoch with the remainder
    dropped (``drop_last``). ``make_optimizer(params, lr)`` and ``lr_at(epoch, it, iters)`` replace the
    optimizer and schedule (adapters). The last epoch's weights are kept; no early stopping here.
    """
    n = len(labels)
    gen = torch.Generator().manual_seed(seed)
    params = [p for p in learner.parameters() if p.requires_grad]
    opt = (
        make_optimizer(params, lr)
        if make_optimizer
        else make_sgd(params, lr, momentum=momentum, weight_decay=weight_decay)
    )
    device = params[0].device
    scaler = torch.amp.GradScaler(device.type) if precision == "amp_fp16" else None
    history, steps = [], 0
    for epoch in range(epochs):
        learner.set_mode(True)  # explicit per epoch: heads train, text tower per text_dropout
        batches = epoch_batches(n, batch_size, gen, drop_last)
        sums: dict[str, float] = {}
        for it, idx in enumerate(batches):
            cur = (
                lr_at(epoch, it, len(batches))
                if lr_at
                else dassl_lr(epoch, lr, epochs, warmup_lr=warmup_lr, warmup_epochs=warmup_epochs)
            )
            for group in opt.param_groups:
                group["lr"] = cur
            f = gather_features(features, idx, epoch, gen).to(device)
            out = train_step(learner, opt, f, labels[idx].to(device), precision=precision, scaler=scaler)
            for k, v in out.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            steps += 1
            if max_steps is not None and steps >= max_steps:
                break
        history.append({k: v / max(1, len(batches)) for k, v in sums.items()})
        if not math.isfinite(history[-1].get("loss", 0.0)):
            raise FloatingPointError(f"non-finite loss at epoch {epoch}: {history[-1]}")
        if on_epoch_end is not None:
            on_epoch_end(epoch)
        if max_steps is not None and steps >= max_steps:
            break
    learner.set_mode(False)
    return history


def optim_kwargs(cfg) -> dict:
    """The :func:`train_learner` keyword arguments of a method config's ``optim`` section."""
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
