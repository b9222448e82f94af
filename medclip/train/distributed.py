"""torchrun environment: process group (gloo on CPU, nccl on GPU), device choice, small collectives."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..config import ConfigError


@dataclass
class DistEnv:
    """This process's place in the run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(device: str, local_rank: int = 0) -> torch.device:
    """Turn the ``device`` setting into a usable ``torch.device``, or raise a one-line ConfigError.

    Args:
        device: ``auto``, ``cpu``, ``cuda`` (this process's ``cuda:<local_rank>``) or ``cuda:N``.
        local_rank: torchrun's ``LOCAL_RANK`` of this process.

    Returns:
        The device to train on.

    Raises:
        ConfigError: The string is not a device, or it names a GPU this machine does not have.
    """
    asked = device
    if device == "auto":
        device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    elif device == "cuda":
        device = f"cuda:{local_rank}"
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ConfigError(f"device={asked!r} is not a device (use auto, cpu, cuda or cuda:N)") from None
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise ConfigError(f"device={asked} requested but no CUDA GPU is available (use device=cpu or auto)")
        if dev.index is not None and dev.index >= n:
            raise ConfigError(f"device={device} requested but only {n} CUDA GPU(s) are visible (cuda:0..cuda:{n - 1})")
    return dev


def init_distributed(device: str = "auto") -> DistEnv:
    """Read torchrun's env vars, pick the device and join the process group when WORLD_SIZE > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistEnv(rank=rank, world_size=world, local_rank=local_rank, device=dev)


def all_reduce(values: list[float], env: DistEnv, op: str = "sum") -> list[float]:
    """All-reduce a few floats (sum or max) across ranks; identity in a single process."""
    if not env.distributed:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=env.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
    return t.tolist()


def barrier(env: DistEnv) -> None:
    """Synchronize ranks (no-op in a single process)."""
    if env.distributed:
        dist.barrier()


def cleanup(env: DistEnv) -> None:
    """Leave the process group."""
    if env.distributed and dist.is_initialized():
        dist.destroy_process_group()
