"""The caption backend registry (``captions.backend`` names).

A member is a class (or any object) with ``from_config(cfg: CaptionConfig) -> LLMBackend``; each backend file
registers itself with ``@CAPTION_BACKENDS.register("name")``. The built-in ``knowledge`` backend is registered
with ``llm=False`` (the converter uses it directly and as every LLM backend's fallback); every other member is an
LLM backend. Use :func:`data_pipelines.captions.llm.caption_backends` to get the registry with the built-ins loaded.
"""

from __future__ import annotations

from medclip.registry import Registry

CAPTION_BACKENDS: Registry = Registry("caption backend")

__all__ = ["CAPTION_BACKENDS"]
