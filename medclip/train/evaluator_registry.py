"""The evaluator registry, in its own module so built-in evaluators can register without import circles.

:mod:`medclip.train.evaluators` (the public API) and :mod:`medclip.train.shard_eval` (the built-in
``shards`` evaluator) both import :data:`EVALUATORS` from here; this module imports only
:mod:`medclip.registry` and the standard library.

Evaluators of other installed packages are plug-ins of the entry-point group :data:`ENTRY_POINT_GROUP`
(``medclip.evaluators``); the ``zeroshot`` package declares its evaluator in ``pyproject.toml``::

    [project.entry-points."medclip.evaluators"]
    zeroshot = "zeroshot.train_hook:make_zeroshot_evaluator"

An entry point is loaded only when its name is asked for and not already registered (:func:`load_plugin`),
so ``medclip`` never imports ``zeroshot`` and runs that do not use the evaluator never pay for importing it.
"""

from __future__ import annotations

from collections.abc import Callable

from ..registry import Registry

Evaluator = Callable[..., dict]
EVALUATORS: Registry[Callable[[dict], Evaluator]] = Registry("evaluator")
ENTRY_POINT_GROUP = "medclip.evaluators"


def register_evaluator(name: str) -> Callable:
    """Decorator registering ``factory(args: dict) -> evaluator`` under ``name``.

    Args:
        name: the name ``eval.name`` selects; registering it again replaces the earlier factory.

    Returns:
        The decorator, which returns the factory unchanged.
    """
    return EVALUATORS.register(name, replace=True)


def plugin_names() -> list[str]:
    """Names declared in the ``medclip.evaluators`` entry-point group of installed packages (not loaded)."""
    from importlib.metadata import entry_points

    return sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def load_plugin(name: str) -> bool:
    """Load the entry point ``name`` of the ``medclip.evaluators`` group and register its factory.

    Args:
        name: an evaluator name not (yet) in :data:`EVALUATORS`.

    Returns:
        True when an entry point of that name was found and registered, False when none is declared.
    """
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            factory = ep.load()  # importing the module may register it too; the entry point's object wins
            EVALUATORS.register(name, factory, replace=True)
            return True
    return False
