"""Feature gathering across ranks, with or without gradient flow through the gathered copies."""

from __future__ import annotations

import torch
import torch.distributed as dist


def gather_features(x: torch.Tensor, *, rank: int, world_size: int, with_grad: bool = True) -> torch.Tensor:
    """Concatenate ``x`` from every rank along dim 0 (rank order).

    With ``with_grad`` the gather is differentiable (the backward sums the gradients every rank computed for
    this rank's rows), which together with DDP's gradient averaging gives exactly the full-batch gradient.
    Without it, the other ranks' rows are constants and this rank's own rows keep their gradient.
    """
    if world_size <= 1:
        return x
    if with_grad:
        import torch.distributed.nn.functional as dist_fn

        return torch.cat(dist_fn.all_gather(x), dim=0)
    parts = [torch.empty_like(x) for _ in range(world_size)]
    dist.all_gather(parts, x.detach())
    parts[rank] = x
    return torch.cat(parts, dim=0)


class GatheredLoss(torch.nn.Module):
    """Base of the contrastive losses: rank / world size and feature gathering shared by every loss.

    Subclasses implement ``forward(*, image_features, text_features, logit_scale, logit_bias=None,
    label_ids=None) -> dict`` (the keyword interface the trainer calls every loss with).

    Args:
        rank: this process's rank.
        world_size: number of processes.
        gather_with_grad: back-propagate through the gathered features.
        local_loss: compute the loss for this rank's rows only (the losses that support it).
    """

    def __init__(self, *, rank: int = 0, world_size: int = 1, gather_with_grad: bool = True, local_loss: bool = True):
        super().__init__()
        self.rank, self.world_size = rank, world_size
        self.gather_with_grad, self.local_loss = gather_with_grad, local_loss

    def gather(self, x: torch.Tensor, *, with_grad: bool | None = None) -> torch.Tensor:
        """``gather_features`` with this loss's rank, world size and (by default) gradient setting."""
        grad = self.gather_with_grad if with_grad is None else with_grad
        return gather_features(x, rank=self.rank, world_size=self.world_size, with_grad=grad)
