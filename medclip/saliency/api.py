"""Front door: :func:`saliency_map` checks inputs, embeds a class prompt if given, dispatches by name."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

import medclip.saliency.gradcam  # noqa: F401  (registers the Grad-CAM methods)
import medclip.saliency.rollout  # noqa: F401  (registers the rollout methods)
from medclip.saliency.registry import SALIENCY

DEFAULT_METHOD = "rollout-contrast"
"""The best-measured method on the demo's finding boxes (docs/saliency.md); it needs ``classes``."""
FALLBACK_METHOD = "rollout"
"""The default when no class set is given (best measured among the methods that need none)."""


def saliency_map(
    model: torch.nn.Module,
    image: torch.Tensor,
    text: torch.Tensor | str,
    *,
    tokenizer: Callable | None = None,
    method: str | None = None,
    classes: torch.Tensor | None = None,
    **options,
) -> np.ndarray:
    """Per-class saliency map of ``image`` for the class given by ``text``.

    Args:
        model: open_clip CLIP-style model (``encode_image``, ``encode_text``, ``logit_scale``).
        image: preprocessed image tensor, shape ``[1, 3, H, W]``.
        text: class text embedding ``[D]``, or a class prompt string (then ``tokenizer`` is required).
        tokenizer: open_clip tokenizer used to embed a prompt string.
        method: registered saliency method name (see ``SALIENCY.names()``); default: ``DEFAULT_METHOD``
            (``"rollout-contrast"``) when ``classes`` is given, else ``FALLBACK_METHOD`` (``"rollout"``).
        classes: ``[C, D]`` class embeddings of the whole class set (e.g. the zero-shot classifier), used by
            class-contrastive methods (``SALIENCY.names(needs_classes=True)``); ignored by the others.
        options: method keyword options (e.g. ``blocks=(-2, -1)`` for the Grad-CAM methods).

    Returns:
        float32 array ``[H, W]`` with values in [0, 1].

    Raises:
        ValueError: unknown method, wrong image shape, prompt without tokenizer, wrong embedding shape.
    """
    if method is None:
        method = DEFAULT_METHOD if classes is not None else FALLBACK_METHOD
    fn = SALIENCY.get(method)
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[:2] != (1, 3):
        raise ValueError(f"image must be a tensor of shape [1, 3, H, W], got {getattr(image, 'shape', type(image))}")
    if isinstance(text, str):
        if tokenizer is None:
            raise ValueError("a class prompt string needs tokenizer=...; or pass a text embedding [D]")
        with torch.no_grad():
            text = model.encode_text(tokenizer([text]).to(image.device))[0]
    if not isinstance(text, torch.Tensor) or text.ndim != 1:
        raise ValueError(f"text embedding must be a 1-D tensor [D], got {getattr(text, 'shape', type(text))}")
    if SALIENCY.meta(method).get("needs_classes") and classes is None:
        raise ValueError(f"saliency method {method!r} contrasts the class with the others: pass classes=[C, D]")
    if classes is not None:
        options["classes"] = classes
    out = fn(model, image, text, **options)
    return out.detach().cpu().numpy().astype(np.float32)
