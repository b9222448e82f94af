"""Label-aware multi-positive contrastive loss.

Captions generated from labels make false negatives common: two X-rays with "pleural effusion" in one
batch get near-identical captions, yet InfoNCE pushes each image away from the other's caption. Here every
pair that shares a label id (the trainer derives it from ``(modality, sorted labels)`` in the shard json) is
a positive: the target distribution of a row is uniform over its positives (the diagonal always is one),
and the loss is the cross-entropy to that soft target, symmetric over images and texts.
"""

from __future__ import annotations

import torch

from .distributed import gather_features


def _soft_ce(logits: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    target = positives / positives.sum(dim=1, keepdim=True)
    return -(target * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()


class MultiPositiveLoss(torch.nn.Module):
    """Multi-positive InfoNCE over gathered features; reduces to CLIP InfoNCE when all label ids differ.

    Args:
        rank: this process's rank.
        world_size: number of processes.
        gather_with_grad: back-propagate through the gathered features.
    """

    def __init__(self, *, rank: int = 0, world_size: int = 1, gather_with_grad: bool = True, local_loss: bool = True):
        super().__init__()
        self.rank, self.world_size, self.gather_with_grad = rank, world_size, gather_with_grad

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
        kw = {"rank": self.rank, "world_size": self.world_size}
        all_img = gather_features(image_features, with_grad=self.gather_with_grad, **kw)
        all_txt = gather_features(text_features, with_grad=self.gather_with_grad, **kw)
        all_ids = gather_features(label_ids, with_grad=False, **kw)
        positives = (label_ids[:, None] == all_ids[None, :]).float()
        idx = torch.arange(n, device=positives.device)
        positives[idx, idx + n * self.rank] = 1.0
        logits_i = (logit_scale * image_features @ all_txt.T).float()
        logits_t = (logit_scale * text_features @ all_img.T).float()
        return {"contrastive_loss": (_soft_ce(logits_i, positives) + _soft_ce(logits_t, positives)) / 2}
