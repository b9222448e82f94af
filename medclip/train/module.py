"""The training module DDP wraps: images + (tokens | cached text) -> named features for the loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .text_cache import project_text


class ContrastiveModule(torch.nn.Module):
    """Wraps an open_clip model so that everything trainable runs inside ``forward`` (as DDP requires).

    ``forward(images, tokens=None, text_cached=None)`` returns ``image_features``, ``text_features`` (unit
    norm), ``logit_scale`` (exp'd) and ``logit_bias`` (or None). ``text_cached`` are cached text-tower
    outputs: projected here when ``project_cached`` (locked tower, trainable projection), else used as is.
    """

    def __init__(self, model: torch.nn.Module, *, project_cached: bool = False):
        super().__init__()
        self.model = model
        self.project_cached = project_cached

    def forward(
        self,
        images: torch.Tensor,
        tokens: torch.Tensor | None = None,
        text_cached: torch.Tensor | None = None,
    ) -> dict:
        m = self.model
        img = m.encode_image(images, normalize=True)
        if text_cached is not None:
            txt = project_text(m, text_cached) if self.project_cached else text_cached
            txt = F.normalize(txt, dim=-1)
        else:
            txt = m.encode_text(tokens, normalize=True)
        bias = getattr(m, "logit_bias", None)
        return {
            "image_features": img,
            "text_features": txt,
            "logit_scale": m.logit_scale.exp(),
            "logit_bias": bias,
        }
