"""Deprecated: moved to :mod:`medclip.fewshot.config` (``METHODS`` is now the registry ``medclip.fewshot.METHODS``)."""

from medclip.fewshot._shim import alias


def _method_names() -> tuple[str, ...]:
    from medclip.fewshot import METHODS

    return tuple(METHODS)


__getattr__ = alias(__name__, "medclip.fewshot.config", {"METHODS": _method_names})
