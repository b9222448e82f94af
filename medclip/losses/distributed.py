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
