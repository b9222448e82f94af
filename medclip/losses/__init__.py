"""Contrastive losses, one per file, selected by name from config (``loss.name``).

Every loss is built by ``create_loss(name, rank=..., world_size=..., **options)`` and called as
``loss(image_features=..., text_features=..., logit_scale=..., logit_bias=None, label_ids=None)``;
it returns a dict whose entries end in ``_loss`` (their sum is what the trainer minimizes).
Features are the *local* (this rank's) unit-norm features; losses gather across ranks themselves.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

from .clip import ClipLoss
from .distributed import gather_features
from .multipos import MultiPositiveLoss
from .siglip import SigLipLoss

_LOSSES: dict[str, Callable] = {"clip": ClipLoss, "siglip": SigLipLoss, "multipos": MultiPositiveLoss}


def register_loss(name: str) -> Callable:
    """Decorator registering a loss class/factory under ``name`` (keyword-only constructor)."""

    def deco(factory: Callable) -> Callable:
        _LOSSES[name] = factory
        return factory

    return deco


def list_losses() -> list[str]:
    """Registered loss names."""
    return sorted(_LOSSES)


def create_loss(name: str, *, rank: int = 0, world_size: int = 1, **options):
    """Build the loss ``name``; unknown names raise ValueError with the closest registered ones."""
    if name not in _LOSSES:
        close = difflib.get_close_matches(name, list(_LOSSES), n=3, cutoff=0.4)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown loss {name!r}.{hint} Registered losses: {', '.join(list_losses())}")
    return _LOSSES[name](rank=rank, world_size=world_size, **options)


__all__ = [
    "ClipLoss",
    "MultiPositiveLoss",
    "SigLipLoss",
    "create_loss",
    "gather_features",
    "list_losses",
    "register_loss",
]
