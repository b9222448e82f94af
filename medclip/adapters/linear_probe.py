"""Deprecated: moved to :mod:`medclip.fewshot.methods.linear_probe`."""

from medclip.fewshot._shim import alias

__getattr__ = alias(__name__, "medclip.fewshot.methods.linear_probe")
