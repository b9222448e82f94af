"""Evaluator plug-ins (the shared contract of the trainer).

An evaluator *factory* is registered under a name and built from the ``eval.args`` dict of the config::

    @register_evaluator("zeroshot")
    def make(args: dict):
        def evaluate(model, tokenizer, *, device, rank, world_size, step, epoch) -> dict[str, float]: ...
        return evaluate

Every rank calls the evaluator; it may shard its work over ranks (``rank`` / ``world_size``, reducing with
``torch.distributed``) and must return the same dict on every rank. ``medclip`` never imports the
``zeroshot`` package: ``zeroshot`` is an entry point of the ``medclip.evaluators`` group (``pyproject.toml``),
loaded the first time that name is asked for (:func:`medclip.train.evaluator_registry.load_plugin`), so
``medclip-train``, ``train.py`` and ``main(argv)`` all find it. medclip itself registers ``shards`` (zero-shot
on labelled shards, :mod:`medclip.train.shard_eval`).
"""

from __future__ import annotations

import difflib

from .evaluator_registry import ENTRY_POINT_GROUP, EVALUATORS, Evaluator, load_plugin, plugin_names, register_evaluator

__all__ = ["EVALUATORS", "Evaluator", "create_evaluator", "list_evaluators", "register_evaluator"]


def list_evaluators() -> list[str]:
    """Registered evaluator names and those of installed ``medclip.evaluators`` entry points, sorted."""
    _builtin()
    return sorted(set(EVALUATORS.names()) | set(plugin_names()))


def create_evaluator(name: str, args: dict | None = None) -> Evaluator:
    """Build evaluator ``name`` from its ``eval.args`` dict.

    Args:
        name: a registered evaluator name.
        args: keyword settings passed to the factory (copied).

    Returns:
        The evaluator callable.

    Raises:
        ValueError: unknown ``name`` (naming close matches and the registered ones).
    """
    _builtin()
    if name not in EVALUATORS and not load_plugin(name):
        known = list_evaluators()  # registered and installed entry points, for the close matches
        close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.4)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(
            f"unknown evaluator {name!r}.{hint} Registered: {', '.join(known)} (installed packages add "
            f"evaluators through the {ENTRY_POINT_GROUP!r} entry-point group)"
        )
    return EVALUATORS.get(name)(dict(args or {}))


def _builtin() -> None:
    from . import shard_eval  # noqa: F401  (registers "shards")
