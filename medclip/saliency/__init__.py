"""Per-class saliency maps for the image tower (``SALIENCY`` registry + :func:`saliency_map`).

Importing this package imports torch; ``import medclip`` does not import it.
"""

from __future__ import annotations

from medclip.saliency.api import DEFAULT_METHOD, FALLBACK_METHOD, SALIENCY, saliency_map
from medclip.saliency.gradcam import gradcam

__all__ = ["DEFAULT_METHOD", "FALLBACK_METHOD", "SALIENCY", "gradcam", "saliency_map"]
