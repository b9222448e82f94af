"""The evaluator registry, in its own module so built-in evaluators can register without import circles.

:mod:`medclip.train.evaluators` (the public API) and :mod:`medclip.train.shard_eval` (the built-in
``shards`` evaluator) both import :data:`EVALUATORS` from here; this module imports only
:mod:`medclip.registry`.
"""

from __future__ import annotations

from collections.abc import Callable

from ..registry import Registry

Evaluator = Callable[..., dict]
EVALUATORS: Registry[Callable[[dict], Evaluator]] = Registry("evaluator")


def register_evaluator(name: str) -> Callable:
    """Decorator registering ``factory(args: dict) -> evaluator`` under ``name``.

    Args:
        name: the name ``eval.name`` selects; registering it again replaces the earlier factory.

    Returns:
        The decorator, which returns the factory unchanged.
    """
    return EVALUATORS.register(name, replace=True)
