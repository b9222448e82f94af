"""Deprecated: moved to :mod:`medclip.fewshot.schedule`."""

from medclip.fewshot._shim import alias

__getattr__ = alias(__name__, "medclip.fewshot.schedule")
