"""The saliency-method registry (kept apart so methods can register without import circles)."""

from __future__ import annotations

from medclip.registry import Registry

SALIENCY: Registry = Registry("saliency method")
