"""Deprecated import paths (``medclip.prompt.*``, ``medclip.adapters.*``) forwarding to ``medclip.fewshot``."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any


def alias(old: str, new: str, extra: dict[str, Callable[[], Any]] | None = None) -> Callable[[str], Any]:
    """Warn that module ``old`` moved to ``new``; return the ``__getattr__`` that forwards to ``new``.

    ``extra`` maps attribute names to functions computing values the new module no longer has.
    """
    warnings.warn(f"{old} is deprecated; import from {new}", DeprecationWarning, stacklevel=3)

    def __getattr__(name: str) -> Any:
        if extra and name in extra:
            return extra[name]()
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(importlib.import_module(new), name)

    return __getattr__
