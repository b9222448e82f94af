"""Errors raised by caption LLM backends (their own module so backends and ``llm.py`` share them circle-free)."""

from __future__ import annotations

from medclip.config import ConfigError


class LLMError(RuntimeError):
    """A request that failed after its transport retries (timeout, connection error, 5xx, 429)."""


class LLMConfigError(ConfigError):
    """A failure no retry can fix (bad URL, authentication, unknown model): the build stops.

    A :class:`medclip.config.ConfigError` (hence a ``ValueError``), so CLIs print it as a one-line error.
    """


__all__ = ["LLMConfigError", "LLMError"]
