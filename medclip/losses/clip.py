"""Symmetric InfoNCE (CLIP) with gathered negatives and a local loss (each rank scores its own rows)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .distributed import GatheredLoss
from .registry import LOSSES


@LOSSES.register("clip")
class ClipLoss(GatheredLoss):
    """CLIP contrastive loss.

    Each rank computes cross-entropy for its local image rows against all gathered texts and its local text
    rows against all gathered images (``local_loss``); averaged over ranks this equals the full global-batch
    loss, at O(local x global) memory instead of O(global^2).

    Args:
        rank: this process's rank.
        world_size: number of processes.
        gather_with_grad: back-propagate through the gathered features (exact full-batch gradient).
        local_loss: score only the local rows (True) or the full global matrix on every rank (False).
    """

    def forward(
        self,
        *,
        image_features: torch.Tensor,
        text_features: torch.Tensor,
        logit_scale: torch.Tensor,
        logit_bias: torch.Tensor | None = None,
        label_ids: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        n = image_features.shape[0]
        all_img = self.gather(image_features)
        all_txt = self.gather(text_features)
        if self.local_loss or self.world_size == 1:
            logits_i = logit_scale * image_features @ all_txt.T
            logits_t = logit_scale * text_features @ all_img.T
            targets = torch.arange(n, device=image_features.device) + n * self.rank
        else:
            logits_i = logit_scale * all_img @ all_txt.T
            logits_t = logits_i.T
            targets = torch.arange(all_img.shape[0], device=image_features.device)
        if logit_bias is not None:
            logits_i, logits_t = logits_i + logit_bias, logits_t + logit_bias
        loss = (F.cross_entropy(logits_i.float(), targets) + F.cross_entropy(logits_t.float(), targets)) / 2
        return {"contrastive_loss": loss}
