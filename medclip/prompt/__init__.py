"""Deprecated: the prompt learners moved to :mod:`medclip.fewshot` (``medclip.prompt.X`` still imports)."""

from medclip.fewshot._shim import alias

__getattr__ = alias(__name__, "medclip.fewshot")
