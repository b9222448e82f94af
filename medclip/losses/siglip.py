"""Sigmoid pairwise loss (SigLIP) with gathered negatives."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .distributed import GatheredLoss
from .registry import LOSSES


@LOSSES.register("siglip")
class SigLipLoss(GatheredLoss):
    """SigLIP: independent binary terms ``log sigmoid(y_ij (s x_i.t_j + b))``, ``y = +1`` on the diagonal.

    Each rank scores its local images against all gathered texts and normalizes by the local batch size,
    so with DDP averaging the gradient equals the single-process global-batch gradient. Needs a model with
    ``logit_bias`` (``model.init_logit_bias``, e.g. -10, and ``model.init_logit_scale`` ~ log 10).

    Args:
        rank: this process's rank.
        world_size: number of processes.
        gather_with_grad: back-propagate through the gathered text features.
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
        if logit_bias is None:
            raise ValueError("the siglip loss needs a model with logit_bias: set model.init_logit_bias (e.g. -10)")
        n = image_features.shape[0]
        all_txt = self.gather(text_features)
        logits = (logit_scale * image_features @ all_txt.T + logit_bias).float()
        signs = -torch.ones_like(logits)
        idx = torch.arange(n, device=logits.device)
        signs[idx, idx + n * self.rank] = 1.0
        return {"contrastive_loss": -F.logsigmoid(signs * logits).sum() / n}
