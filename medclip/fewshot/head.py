"""Base of the feature-space heads trained by the Dassl loop (CLIP-Adapter, Tip-Adapter-F).

A head sits on frozen image features like a prompt learner (:mod:`.learner`) but has no text tower: it holds
the frozen zero-shot text weights ``W (C, d)`` and the model's scale, and is trained with cross-entropy on
its logits.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class FeatureHead(nn.Module):
    """``text_weights`` / ``scale`` buffers (float32 copies, not saved), ``set_mode``, CE ``loss``, ``backward``."""

    def __init__(self, text_weights: torch.Tensor, scale: torch.Tensor | float) -> None:
        super().__init__()
        self.register_buffer("text_weights", text_weights.float().clone(), persistent=False)
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32).reshape(()).clone(), persistent=False)

    def set_mode(self, training: bool) -> None:
        self.train(training)

    def loss(self, f: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        ce = F.cross_entropy(self(f), y)
        return {"loss": ce, "ce": ce}

    def backward(self, out: dict[str, torch.Tensor], scaler=None) -> None:
        (scaler.scale(out["loss"]) if scaler is not None else out["loss"]).backward()
