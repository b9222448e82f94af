"""Label-aware multi-positive contrastive loss.

Captions generated from labels make false negatives common: two X-rays with "pleural effusion" in one
batch get near-identical captions, yet InfoNCE pushes each image away from the other's caption. Here every
pair that shares a label id (the trainer derives it from ``(modality, sorted labels)`` in the shard json) is
a positive: the target distribution of a row is uniform over its positives (the diagonal always is one),
and the loss is the cross-entropy to that soft target, symmetric over images and texts.
"""

from __future__ import annotations

import torch

from .distributed import GatheredLoss
from .registry import LOSSES


def _soft_ce(logits: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    target = positives / positives.sum(dim=1, keepdim=True)
    return -(target * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()


@LOSSES.register("multipos")
class MultiPositiveLoss(GatheredLoss):
    """Multi-positive InfoNCE over gathered features; reduces to CLIP InfoNCE when all label ids differ.

    Args:
        rank: this process's rank.
        world_size: number of processes.
        gather_with_grad: back-propagate through the gathered features.
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
        if label_ids is None:
            raise ValueError("the multipos loss needs label ids (shards with 'labels' in their json)")
        n = image_features.shape[0]
        all_img = self.gather(image_features)
        all_txt = self.gather(text_features)
        all_ids = self.gather(label_ids, with_grad=False)
        positives = (label_ids[:, None] == all_ids[None, :]).float()
        idx = torch.arange(n, device=positives.device)
        positives[idx, idx + n * self.rank] = 1.0
        logits_i = (logit_scale * image_features @ all_txt.T).float()
        logits_t = (logit_scale * text_features @ all_img.T).float()
        return {"contrastive_loss": (_soft_ce(logits_i, positives) + _soft_ce(logits_t, positives)) / 2}
