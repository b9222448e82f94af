"""Deprecated: moved to :mod:`medclip.fewshot.bank`."""

from medclip.fewshot._shim import alias

__getattr__ = alias(__name__, "medclip.fewshot.bank")
