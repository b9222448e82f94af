"""Dassl-compatible optimization pieces: learning rate by epoch, SGD, epoch batching (spec §4; G17)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


def dassl_lr(epoch: int, lr: float, max_epoch: int, *, warmup_lr: float = 1e-5, warmup_epochs: int = 1) -> float:
    """Learning rate of an epoch: constant ``warmup_lr`` for the warm-up epochs, then cosine.

    Epoch ``e ≥ warmup_epochs`` runs at ``lr·½(1 + cos(π(e − warmup_epochs)/max_epoch))`` (the scheduler
    is stepped once per epoch, ``T_max = max_epoch``).
    """
    if epoch < warmup_epochs:
        return float(warmup_lr)
    return float(lr * 0.5 * (1.0 + math.cos(math.pi * (epoch - warmup_epochs) / max_epoch)))


def make_sgd(params: Iterable[torch.nn.Parameter], lr: float, *, momentum: float = 0.9, weight_decay: float = 5e-4):
    """Dassl SGD: momentum 0.9, weight decay 5e-4, no dampening, no Nesterov, trainable parameters only."""
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ValueError("no trainable parameters")
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, dampening=0, nesterov=False)


def iterations_per_epoch(n: int, batch_size: int, drop_last: bool = True) -> int:
    """⌊n/B⌋ with ``drop_last`` (at least 1: a set smaller than a batch is one full batch), else ⌈n/B⌉."""
    if n <= 0:
        raise ValueError("the training set is empty")
    if n < batch_size:
        return 1
    return n // batch_size if drop_last else math.ceil(n / batch_size)


def epoch_batches(n: int, batch_size: int, generator: torch.Generator, drop_last: bool = True) -> list[torch.Tensor]:
    """Index batches of one epoch in a fresh random order; ``drop_last`` drops a random remainder."""
    order = torch.randperm(n, generator=generator)
    k = iterations_per_epoch(n, batch_size, drop_last)
    return [order[i * batch_size : (i + 1) * batch_size] for i in range(k)]
