"""Plug-in discovery: a :class:`~medclip.registry.Registry` that also finds members of installed packages.

A family of interchangeable parts whose members may come from outside medclip (merge methods, caption
backends) keeps a :class:`PluginRegistry` bound to an entry-point group. A package (or a single file with a
``*.dist-info`` folder beside it on ``sys.path``) declares its members in that group::

    [project.entry-points."medclip.merge_methods"]
    my_merge = "my_package.my_merge:my_merge"

The entry point's name is the member's name. It is imported only when that name is asked for and not already
registered (``get``, ``in``, ``meta``), like the trainer's ``medclip.evaluators`` group; importing its module
usually registers it (with its metadata) through the family's decorator, otherwise the loaded object is
registered under the entry point's name. ``load_plugins()`` imports every declared member (contract tests
parametrized over a whole family use it). This module imports only the standard library and
:mod:`medclip.registry`.
"""

from __future__ import annotations

from typing import Any, TypeVar

from .registry import Registry

T = TypeVar("T")


def _entry_points(group: str) -> list:
    from importlib.metadata import entry_points

    return list(entry_points(group=group))


class PluginRegistry(Registry[T]):
    """A :class:`Registry` whose unknown names are looked up in the entry-point group ``group``.

    Args:
        kind: what the members are ("merge method", "caption backend").
        group: the entry-point group of installed plug-ins, e.g. ``medclip.merge_methods``.
    """

    def __init__(self, kind: str, group: str) -> None:
        super().__init__(kind)
        self.group = group
        self._loading: set[str] = set()

    def plugin_names(self) -> list[str]:
        """Names declared in :attr:`group` by installed packages (not imported)."""
        return sorted({ep.name for ep in _entry_points(self.group)})

    def load_plugin(self, name: str) -> bool:
        """Import the entry point ``name`` of :attr:`group` unless ``name`` is registered already.

        Returns:
            True when ``name`` is registered afterwards, False when no entry point declares it.

        Raises:
            ValueError: the entry point exists but cannot be imported (the message names it).
        """
        if name in self._items:
            return True
        if not isinstance(name, str) or name in self._loading:
            return False
        self._loading.add(name)
        try:
            for ep in _entry_points(self.group):
                if ep.name != name:
                    continue
                try:
                    obj = ep.load()
                except Exception as e:  # a broken plug-in is one line naming it, not a traceback in our code
                    raise ValueError(f"{self.kind} plug-in {name!r} ({ep.value}) failed to import: {e}") from e
                if name not in self._items:  # the module did not register itself: the object is the member
                    Registry.register(self, name, obj)
                return True
            return False
        finally:
            self._loading.discard(name)

    def load_plugins(self) -> list[str]:
        """Import every plug-in declared in :attr:`group`; returns their names."""
        names = self.plugin_names()
        for n in names:
            self.load_plugin(n)
        return names

    def get(self, name: str) -> T:
        """The member ``name``, importing its entry point first if it is not registered yet."""
        if isinstance(name, str) and name not in self._items:
            self.load_plugin(name)
        return super().get(name)

    def meta(self, name: str) -> dict[str, Any]:
        """Metadata of ``name`` (loading its plug-in when needed)."""
        self.get(name)
        return super().meta(name)

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str) and name not in self._items:
            self.load_plugin(name)
        return name in self._items


__all__ = ["PluginRegistry"]
