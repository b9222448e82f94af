"""Contrastive losses, one per file, selected by name from config (``loss.name``).

Every loss is built by ``create_loss(name, rank=..., world_size=..., **options)`` and called as
``loss(image_features=..., text_features=..., logit_scale=..., logit_bias=None, label_ids=None)``;
it returns a dict whose entries end in ``_loss`` (their sum is what the trainer minimizes).
Features are the *local* (this rank's) unit-norm features; losses gather across ranks themselves.

Losses live in :data:`LOSSES` (a :class:`medclip.registry.Registry`); a new loss is one file whose class is
decorated with ``@LOSSES.register("name")`` and imported below (or, from user code, ``@register_loss("name")``).
"""

from __future__ import annotations

from collections.abc import Callable

from .clip import ClipLoss
from .distributed import gather_features
from .multipos import MultiPositiveLoss
from .registry import LOSSES
from .siglip import SigLipLoss
from .siglip_chunked import SigLipChunkedLoss


def register_loss(name: str, **meta) -> Callable:
    """Decorator registering a loss class/factory under ``name`` (keyword-only constructor).

    Re-registering a name replaces the earlier entry (as before the registry existed).

    Args:
        name: the ``loss.name`` config value that selects it.
        **meta: metadata stored with the entry (see :meth:`medclip.registry.Registry.meta`).

    Returns:
        A decorator that registers and returns its argument unchanged.
    """
    return LOSSES.register(name, replace=True, **meta)


def list_losses() -> list[str]:
    """Registered loss names, sorted."""
    return sorted(LOSSES)


def create_loss(name: str, *, rank: int = 0, world_size: int = 1, **options):
    """Build the loss ``name``; unknown names raise ValueError with the closest registered ones.

    Args:
        name: a registered loss name (``list_losses()``).
        rank: this process's rank.
        world_size: number of processes.
        **options: keyword options of the loss constructor.

    Returns:
        The constructed loss module.
    """
    return LOSSES.get(name)(rank=rank, world_size=world_size, **options)


__all__ = [
    "LOSSES",
    "ClipLoss",
    "MultiPositiveLoss",
    "SigLipChunkedLoss",
    "SigLipLoss",
    "create_loss",
    "gather_features",
    "list_losses",
    "register_loss",
]
