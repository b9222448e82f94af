"""LLM backend interface and factory; backends are looked up by name in the caption backend registry.

Adding a backend is one file: a class with ``name``, ``llm_id``, ``complete(prompt, *, seed)`` and
``from_config(cfg)``, decorated with ``@CAPTION_BACKENDS.register("name")`` (see :mod:`.registry`), and imported
once before the config is validated (the built-ins are imported here).
"""

from __future__ import annotations

from typing import Protocol

from . import hf_backend, knowledge, openai_backend  # noqa: F401  (built-in backends register themselves)
from .errors import LLMConfigError, LLMError
from .registry import CAPTION_BACKENDS


class LLMBackend(Protocol):
    """What the converter needs from a generator."""

    name: str  # "openai" | "hf" | a stub name
    llm_id: str  # model identity recorded in provenance

    def complete(self, prompt: str, *, seed: int) -> str:
        """Return the raw text answer to ``prompt`` (raise :class:`LLMError` after retries)."""
        ...


def caption_backends():
    """The caption backend registry (:data:`.registry.CAPTION_BACKENDS`) with the built-in backends loaded.

    Returns:
        The :class:`medclip.registry.Registry` of ``captions.backend`` names.
    """
    return CAPTION_BACKENDS


def make_llm(cfg) -> LLMBackend:
    """Build the LLM backend named by ``cfg.backend`` (``openai``, ``hf`` or a registered plug-in).

    Args:
        cfg: a :class:`data_pipelines.captions.CaptionConfig`.

    Returns:
        The backend built by the registered member's ``from_config(cfg)``.

    Raises:
        ValueError: for an unknown name (with close matches) or a backend that is not an LLM (``knowledge``).
    """
    factory = CAPTION_BACKENDS.get(cfg.backend)
    if not CAPTION_BACKENDS.meta(cfg.backend).get("llm", True):
        raise ValueError(f"no LLM backend for {cfg.backend!r}")
    return factory.from_config(cfg)


__all__ = ["CAPTION_BACKENDS", "LLMBackend", "LLMConfigError", "LLMError", "caption_backends", "make_llm"]
