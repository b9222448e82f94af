"""Typed data settings of the trainer (``data:`` section of a train config)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .decode import HIGH_BIT_POLICIES
from .transforms import AugConfig


@dataclass
class SourceConfig:
    """One shard source of a multi-source mix."""

    url: str = ""  # folder, file, brace pattern, 'a::b' list or remote URL (http(s)://, s3://, gs://, hf://)
    weight: float | None = None  # mixing weight; None everywhere = proportional to size


@dataclass
class DataConfig:
    """Where training samples come from and how they are read."""

    train: str | None = None  # a single source (shortcut for sources: [{url: ...}])
    sources: list[SourceConfig] = field(default_factory=list)
    weights: list[float] | None = None  # alternative to per-source weights; len must equal len(sources)
    resampled: bool = False  # infinite sampling of shards with replacement (needs samples_per_epoch or sizes)
    samples_per_epoch: int | None = None  # default: total of sizes.json over all sources
    batch_size: int = 64  # per rank and per micro-batch
    workers: int = 2  # DataLoader worker processes per rank
    split_by: str = "auto"  # shard | sample | auto (shard when #shards >= ranks x workers)
    shard_shuffle: bool = True  # seeded shard order per epoch
    shuffle_buffer: int = 5000  # sample shuffle buffer (0 = off)
    shuffle_initial: int = 1000  # samples buffered before the first one leaves
    image_size: int | None = None  # default: the model's image size
    aug: AugConfig = field(default_factory=AugConfig)
    caption_policy: str = "uniform"  # uniform | primary (the .txt caption)
    caption_kinds: list[str] = field(default_factory=list)  # keep only captions of these kinds (empty = all)
    high_bit_depth: str = "error"  # error | minmax | shift for >8-bit images
    draft: bool = True  # reduced-size JPEG decode when the image is >= 2x the training size
    gpu_decode: bool = False  # JPEGs decoded / cropped / resized / normalised on the device (data/gpu_decode.py)
    channels_last: bool = False  # model weights and image batches in channels-last memory format
    pin_memory: bool = True  # only used on CUDA
    persistent_workers: bool = True
    prefetch_factor: int = 2
    check: bool = True  # shard check before training
    check_samples: int = 16  # samples per source read by the shard check
    strict: bool = False  # a damaged shard or an unusable sample stops the run (one-line error naming it)

    def validate(self) -> None:
        from ..config import ConfigError

        if self.train and self.sources:
            raise ConfigError("data: give either data.train or data.sources, not both")
        if self.split_by not in ("auto", "shard", "sample"):
            raise ConfigError(f"data.split_by must be auto, shard or sample, got {self.split_by!r}")
        if self.high_bit_depth not in HIGH_BIT_POLICIES:
            raise ConfigError(f"data.high_bit_depth must be one of {', '.join(HIGH_BIT_POLICIES)}")
        if self.caption_policy not in ("uniform", "primary"):
            raise ConfigError(f"data.caption_policy must be uniform or primary, got {self.caption_policy!r}")
        if self.batch_size < 1 or self.workers < 0:
            raise ConfigError("data.batch_size must be >= 1 and data.workers >= 0")
        n = len(self.source_list())
        if self.weights is not None and len(self.weights) != n:
            raise ConfigError(f"data.weights has {len(self.weights)} entries for {n} sources; they must match")

    def source_list(self) -> list[SourceConfig]:
        """The configured sources (``train`` becomes one source); weights from ``weights`` applied."""
        srcs = [SourceConfig(url=self.train)] if self.train else list(self.sources)
        if self.weights is not None and len(self.weights) == len(srcs):
            srcs = [SourceConfig(url=s.url, weight=w) for s, w in zip(srcs, self.weights)]
        return srcs
