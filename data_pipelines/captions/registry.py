"""The caption backend registry (``captions.backend`` names).

A member is a class (or any object) with ``from_config(cfg: CaptionConfig) -> LLMBackend``; each backend file
registers itself with ``@CAPTION_BACKENDS.register("name")``. The built-in ``knowledge`` backend is registered
with ``llm=False`` (the converter uses it directly and as every LLM backend's fallback); every other member is an
LLM backend. Use :func:`data_pipelines.captions.llm.caption_backends` to get the registry with the built-ins loaded.

A backend of another package is one file declared in the entry-point group ``medclip.caption_backends``
(:data:`ENTRY_POINT_GROUP`); it is imported the first time ``captions.backend`` names it (docs/captions.md,
"Adding a backend").
"""

from __future__ import annotations

from medclip.plugins import PluginRegistry

ENTRY_POINT_GROUP = "medclip.caption_backends"
CAPTION_BACKENDS: PluginRegistry = PluginRegistry("caption backend", ENTRY_POINT_GROUP)

__all__ = ["CAPTION_BACKENDS", "ENTRY_POINT_GROUP"]
