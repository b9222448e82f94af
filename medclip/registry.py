"""One small registry type for every family of interchangeable parts.

Losses, evaluators, data sources, caption backends, few-shot methods, merge methods and saliency methods
each keep one :class:`Registry`; a new member is one file that decorates its factory::

    LOSSES = Registry("loss")

    @LOSSES.register("clip", gathers=True)
    class ClipLoss: ...

    LOSSES.get("clpi")           # ValueError: unknown loss 'clpi'. Did you mean: clip? Registered: clip, ...
    LOSSES.names(gathers=True)   # names whose metadata match every filter, in registration order
    LOSSES.meta("clip")          # {'gathers': True}

Metadata are plain keyword arguments chosen by each family (e.g. a few-shot method's ``uses_bank``);
``names(**filters)`` compares them with ``==`` (a missing key never matches). This module imports only
the standard library, so ``import medclip`` stays cheap.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> object map with metadata, close-match errors and filtered listing.

    Args:
        kind: what the members are, used in error messages ("loss", "few-shot method", ...).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._meta: dict[str, dict[str, Any]] = {}

    def register(self, name: str, obj: T | None = None, *, replace: bool = False, **meta: Any) -> Callable[[T], T]:
        """Register ``obj`` under ``name``; used as ``@REG.register(name, **meta)`` or called with ``obj``.

        Registering a taken name raises ValueError unless ``replace=True`` (tests and user plug-ins that
        deliberately override a built-in say so).
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} names must be non-empty strings, got {name!r}")

        def deco(item: T) -> T:
            if name in self._items and not replace and self._items[name] is not item:
                raise ValueError(f"{self.kind} {name!r} is already registered (pass replace=True to override)")
            self._items[name] = item
            self._meta[name] = dict(meta)
            return item

        if obj is not None:
            deco(obj)
        return deco

    def unregister(self, name: str) -> None:
        """Remove ``name`` (for tests that register throwaway members); unknown names are an error."""
        self.get(name)
        del self._items[name], self._meta[name]

    def get(self, name: str) -> T:
        """The member called ``name``; unknown names raise ValueError with the closest registered ones."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise ValueError(self.unknown_message(name)) from None

    def unknown_message(self, name: object) -> str:
        """The one-line error for an unknown ``name`` (close matches first, then every registered name)."""
        close = difflib.get_close_matches(str(name), list(self._items), n=3, cutoff=0.4)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        return f"unknown {self.kind} {name!r}.{hint} Registered: {', '.join(self._items) or '(none)'}"

    def meta(self, name: str) -> dict[str, Any]:
        """A copy of the metadata ``name`` was registered with."""
        self.get(name)
        return dict(self._meta[name])

    def names(self, **filters: Any) -> list[str]:
        """Registered names (registration order) whose metadata equal every ``filters`` value."""
        missing = object()
        return [n for n in self._items if all(self._meta[n].get(k, missing) == v for k, v in filters.items())]

    def items(self) -> list[tuple[str, T]]:
        """``(name, member)`` pairs in registration order."""
        return list(self._items.items())

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._items)})"


__all__ = ["Registry"]
