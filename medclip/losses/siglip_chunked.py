"""Memory-bounded SigLIP: text features travel around a ring of ranks, one block at a time.

``siglip`` gathers every rank's text features (``W x n x D``) and builds the ``n x W n`` logit block of its
images. ``siglip_chunked`` instead scores its images against its own texts, then ``W - 1`` times passes the text
block it holds to the next rank (and receives the previous rank's) with a differentiable point-to-point
exchange, scoring each received block as negatives. Each block's loss recomputes its logits in the backward
(:class:`BlockLoss`), so a rank holds one ``n x n`` logit block at a time, never the ``n x W n`` matrix; what
stays until the backward is the received text blocks (``W n x D``, as much as the gathered features, which is
small next to the logits once ``n > D``). The result (loss and gradients) equals ``siglip`` with
``gather_with_grad`` (the sigmoid terms are independent, so any order of blocks sums to the same loss).
Same idea as open_clip's chunked sigmoid loss (open_clip PR #1145), written here.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F

from .distributed import GatheredLoss
from .registry import LOSSES


def _exchange(x: torch.Tensor, to_rank: int, from_rank: int) -> torch.Tensor:
    recv = torch.empty_like(x)
    ops = [dist.P2POp(dist.isend, x.contiguous(), to_rank), dist.P2POp(dist.irecv, recv, from_rank)]
    for req in dist.batch_isend_irecv(ops):
        req.wait()
    return recv


class NeighbourExchange(torch.autograd.Function):
    """Send ``x`` to ``to_rank`` and return what ``from_rank`` sent; the backward sends gradients the other way."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, to_rank: int, from_rank: int) -> torch.Tensor:
        ctx.to_rank, ctx.from_rank = to_rank, from_rank
        return _exchange(x, to_rank, from_rank)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return _exchange(grad, ctx.from_rank, ctx.to_rank), None, None


def neighbour_exchange(x: torch.Tensor, *, rank: int, world_size: int) -> torch.Tensor:
    """Differentiable ring step: this rank's ``x`` goes to ``rank + 1``, the result comes from ``rank - 1``."""
    return NeighbourExchange.apply(x, (rank + 1) % world_size, (rank - 1) % world_size)


class BlockLoss(torch.autograd.Function):
    """``-sum log sigmoid(y (s I T^T + b))`` of one ``n x m`` block, ``y = +1`` on the diagonal if ``positive``.

    Saves only the two feature blocks and recomputes the logits in the backward, so a block's ``n x m`` logit
    matrix lives only while that block is being computed (autograd would otherwise keep every block's
    logits until the backward, ``n x W n`` in total, as much as the unchunked loss). With
    ``z = s I T^T + b`` and ``G = dL/dz = -y sigmoid(-y z)``: ``dI = s G T``, ``dT = s G^T I``,
    ``ds = sum(G * I T^T)``, ``db = sum(G)``.
    """

    @staticmethod
    def forward(ctx, img, txt, scale, bias, positive: bool):
        ctx.save_for_backward(img, txt, scale, bias)
        ctx.positive = positive
        z = (scale * img @ txt.T + bias).float()
        return -F.logsigmoid(_signs(z, positive) * z).sum()

    @staticmethod
    def backward(ctx, grad):
        img, txt, scale, bias = ctx.saved_tensors
        sim = (img @ txt.T).float()
        z = scale.float() * sim + bias.float()
        y = _signs(z, ctx.positive)
        g = -y * torch.sigmoid(-y * z) * grad
        gm = g.to(img.dtype)
        d_img = (scale * (gm @ txt)).to(img.dtype)
        d_txt = (scale * (gm.T @ img)).to(txt.dtype)
        d_scale = (g * sim).sum().reshape(scale.shape).to(scale.dtype)
        d_bias = g.sum().reshape(bias.shape).to(bias.dtype)
        return d_img, d_txt, d_scale, d_bias, None


def _signs(z: torch.Tensor, positive: bool) -> torch.Tensor:
    if positive:
        return 2 * torch.eye(z.shape[0], z.shape[1], device=z.device, dtype=z.dtype) - 1
    return -torch.ones_like(z)


def _block_loss(img, txt, scale, bias, positive: bool) -> torch.Tensor:
    return BlockLoss.apply(img, txt, scale, bias, positive)


@LOSSES.register("siglip_chunked")
class SigLipChunkedLoss(GatheredLoss):
    """SigLIP over a ring exchange of text blocks (logit memory O(n^2) per rank instead of O(n W n)).

    Equal to :class:`~medclip.losses.siglip.SigLipLoss` (loss and gradients): each rank's loss is its local
    images against every text, divided by the local batch size. Needs ``logit_bias`` like ``siglip``.

    Args:
        rank: this process's rank.
        world_size: number of processes.
        gather_with_grad: must stay True (text gradients always flow back through the ring).
        local_loss: ignored (the loss is always local).
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
            raise ValueError(
                "the siglip_chunked loss needs a model with logit_bias: set model.init_logit_bias (e.g. -10)"
            )
        n = image_features.shape[0]
        total = _block_loss(image_features, text_features, logit_scale, logit_bias, positive=True)
        block = text_features
        for _ in range(self.world_size - 1):
            block = neighbour_exchange(block, rank=self.rank, world_size=self.world_size)
            total = total + _block_loss(image_features, block, logit_scale, logit_bias, positive=False)
        return {"contrastive_loss": total / n}
