"""The training loop's mutable state, in one place with named fields (saved in checkpoints, read by callbacks)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from ..data.damage import DataHealth


@dataclass
class LoopState:
    """Where the loop is and what it has seen.

    The first five fields are the resume position written into every checkpoint (``data_positions`` is
    ``positions``); ``resume_*`` keep the checkpoint's epoch position so the resumed epoch starts at its
    micro-batch. The rest is per-run bookkeeping.
    """

    step: int = 0  # optimizer steps done
    epoch: int = 0  # current epoch
    batch_in_epoch: int = 0  # micro-batches of ``epoch`` consumed
    positions: list[int] = field(default_factory=list)  # raw samples consumed per worker role in ``epoch``
    samples_seen: int = 0  # global samples trained on (all ranks)
    resume_epoch: int = 0
    resume_batch_in_epoch: int = 0
    resume_positions: list[int] | None = None
    saved_at: int = -1  # step of the last checkpoint (-1: none this run)
    logged_at: int = 0  # step of the last metrics line
    bad_steps: int = 0  # consecutive non-finite steps
    skipped: int = 0  # samples this rank could not decode in this run (the summary's "corrupt samples")
    last_loss: float = math.nan  # mean loss over ranks at the last log step
    loss: torch.Tensor | None = None  # this rank's loss of the last step
    stop_reason: str = "finished"
    health: DataHealth = field(default_factory=DataHealth)  # this rank's damaged shards and skip reasons
    started: float = field(default_factory=time.time)
    interval_start: float = field(default_factory=time.time)  # wall clock of the last log step
    interval_samples: int = 0  # samples_seen at the last log step
    data_wait: float = 0.0  # seconds spent waiting for the loader since the last log step

    @property
    def stopping(self) -> bool:
        return self.stop_reason != "finished"
