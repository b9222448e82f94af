"""Deprecated: moved to :mod:`medclip.fewshot.methods.prograd`."""

from medclip.fewshot._shim import alias

__getattr__ = alias(__name__, "medclip.fewshot.methods.prograd")
