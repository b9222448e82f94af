"""Deprecated: moved to :mod:`medclip.fewshot.methods.lp_plusplus`."""

from medclip.fewshot._shim import alias

__getattr__ = alias(__name__, "medclip.fewshot.methods.lp_plusplus")
