"""Run logging on rank 0: ``metrics.jsonl`` (one JSON object per line) and tensorboard events."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path


class MetricsLogger:
    """Append metrics to ``run_dir/metrics.jsonl`` and (optionally) tensorboard in ``run_dir/tensorboard``."""

    def __init__(self, run_dir: str | Path, *, enabled: bool = True, tensorboard: bool = True):
        self.enabled = enabled
        self.path = Path(run_dir) / "metrics.jsonl"
        self.tb = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(Path(run_dir) / "tensorboard"))
            except ImportError:  # tensorboard not installed: jsonl only
                self.tb = None

    def log(self, step: int, values: dict) -> None:
        """Record ``values`` (floats/ints/strings) at optimizer step ``step``."""
        if not self.enabled:
            return
        rec = {"step": step, "time": round(time.time(), 3)}
        for k, v in values.items():
            rec[k] = v if not isinstance(v, float) or math.isfinite(v) else str(v)
        with open(self.path, "a") as f:
            f.write(json.dumps(rec) + "\n")
        if self.tb is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    self.tb.add_scalar(k, v, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
