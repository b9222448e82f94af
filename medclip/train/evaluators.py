"""Evaluator plug-ins (the shared contract of the trainer).

An evaluator *factory* is registered under a name and built from the ``eval.args`` dict of the config::

    @register_evaluator("zeroshot")
    def make(args: dict):
        def evaluate(model, tokenizer, *, device, rank, world_size, step, epoch) -> dict[str, float]: ...
        return evaluate

Every rank calls the evaluator; it may shard its work over ranks (``rank`` / ``world_size``, reducing with
``torch.distributed``) and must return the same dict on every rank. ``medclip`` never imports the
``zeroshot`` package: the root ``train.py`` imports ``zeroshot.train_hook``, which registers ``zeroshot``.
medclip itself registers ``shards`` (zero-shot on labelled shards, :mod:`medclip.train.shard_eval`).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

Evaluator = Callable[..., dict]
_FACTORIES: dict[str, Callable[[dict], Evaluator]] = {}


def register_evaluator(name: str) -> Callable:
    """Decorator registering ``factory(args: dict) -> evaluator`` under ``name``."""

    def deco(factory: Callable[[dict], Evaluator]) -> Callable[[dict], Evaluator]:
        _FACTORIES[name] = factory
        return factory

    return deco


def list_evaluators() -> list[str]:
    """Registered evaluator names."""
    _builtin()
    return sorted(_FACTORIES)


def create_evaluator(name: str, args: dict | None = None) -> Evaluator:
    """Build evaluator ``name``; unknown names raise ValueError naming the registered ones."""
    _builtin()
    if name not in _FACTORIES:
        close = difflib.get_close_matches(name, list(_FACTORIES), n=3, cutoff=0.4)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        extra = " (the 'zeroshot' evaluator is registered by importing zeroshot.train_hook, as train.py does)"
        raise ValueError(f"unknown evaluator {name!r}.{hint} Registered: {', '.join(sorted(_FACTORIES))}{extra}")
    return _FACTORIES[name](dict(args or {}))


def _builtin() -> None:
    from . import shard_eval  # noqa: F401  (registers "shards")
