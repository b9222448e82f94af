"""LLM backend interface, errors and factory (backends are imported lazily)."""

from __future__ import annotations

from typing import Protocol

from medclip.config import ConfigError


class LLMError(RuntimeError):
    """A request that failed after its transport retries (timeout, connection error, 5xx, 429)."""


class LLMConfigError(ConfigError):
    """A failure no retry can fix (bad URL, authentication, unknown model): the build stops.

    A :class:`medclip.config.ConfigError` (hence a ``ValueError``), so CLIs print it as a one-line error.
    """


class LLMBackend(Protocol):
    """What the converter needs from a generator."""

    name: str  # "openai" | "hf" | a stub name
    llm_id: str  # model identity recorded in provenance

    def complete(self, prompt: str, *, seed: int) -> str:
        """Return the raw text answer to ``prompt`` (raise :class:`LLMError` after retries)."""
        ...


def make_llm(cfg) -> LLMBackend:
    """Build the LLM backend named by ``cfg.backend`` (``openai`` or ``hf``)."""
    if cfg.backend == "openai":
        from .openai_backend import OpenAIBackend

        return OpenAIBackend.from_config(cfg)
    if cfg.backend == "hf":
        from .hf_backend import HFBackend

        return HFBackend.from_config(cfg)
    raise ValueError(f"no LLM backend for {cfg.backend!r}")
