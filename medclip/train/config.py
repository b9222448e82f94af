"""Typed trainer configuration (``configs/train/*.yaml`` map onto :class:`TrainConfig`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config import ConfigError
from ..data.config import DataConfig


@dataclass
class ModelConfig:
    """Which model to train and which parts are frozen."""

    name: str = "medclip-tiny"  # registered medclip / open_clip name, hf-hub:..., local-dir:...
    pretrained: str | None = None  # checkpoint file or open_clip pretrained tag (initialization)
    pretrained_text: bool = True  # load the HF text tower's own pretrained weights
    lock_text: bool = False  # freeze the text tower; caption features are cached by caption text (LiT)
    lock_text_proj: bool = True  # with lock_text: also freeze the projection (False trains it on cached pooled)
    lock_image: bool = False  # freeze the image tower (all but the projection)
    grad_checkpointing: bool = False  # activation checkpointing per transformer block, both towers
    compile: bool = False  # torch.compile the image and text towers in place (not the loss; keys stay plain)
    init_logit_scale: float | None = None  # log-space init (e.g. 2.302 = log 10 for SigLIP)
    init_logit_bias: float | None = None  # adds a logit_bias (needed by loss.name=siglip, e.g. -10)
    logit_scale_max: float = 100.0  # exp(logit_scale) clamped to this after every step


@dataclass
class OptimConfig:
    """AdamW + linear warm-up + cosine decay, all defined on total optimizer steps."""

    lr: float = 5.0e-4
    beta1: float = 0.9
    beta2: float = 0.98
    eps: float = 1.0e-6
    weight_decay: float = 0.2  # not applied to biases, norms, gains, embeddings of scale (logit_scale/bias)
    warmup_steps: int = 2000  # linear warm-up from 0
    warmup_fraction: float | None = None  # alternative: warm-up as a fraction of total steps
    min_lr: float = 0.0  # cosine end value
    schedule: str = "cosine"  # cosine | constant
    grad_clip: float = 0.0  # max global grad norm (0 = off)
    fused: bool | None = None  # fused AdamW: None = where available (CPU, CUDA), true = required, false = foreach


@dataclass
class LossConfig:
    """Contrastive objective (``clip``, ``siglip`` or ``multipos``)."""

    name: str = "clip"
    local_loss: bool = True
    gather_with_grad: bool = True


@dataclass
class EvalConfig:
    """In-training evaluation through the evaluator registry (``medclip.train.evaluators``)."""

    name: str | None = None  # registered evaluator (e.g. zeroshot, shards); None = off
    every_n_epochs: int = 1
    every_n_steps: int = 0
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class CheckpointConfig:
    """When and how checkpoints are written."""

    every_n_steps: int = 0  # step checkpoints (0 = only at epoch ends / stop / signal)
    every_epoch: bool = True
    keep_last: int = 2  # step/epoch checkpoints kept besides latest (0 = keep all)
    async_save: bool = False  # write in a background thread (tensors copied to CPU first)
    separate_optimizer: bool = False  # optimizer/scaler state in <name>.optim.pt; .pt holds the weights


@dataclass
class DistConfig:
    """How the model is spread over the ranks (``docs/training.md``: when to pick DDP or FSDP2)."""

    strategy: str = "ddp"  # ddp (replicated weights) | fsdp (FSDP2 fully_shard per transformer block)
    fsdp_param_dtype: str | None = None  # FSDP2 mixed precision: compute dtype of the gathered params (bf16)
    fsdp_reduce_dtype: str | None = None  # dtype of the gradient reduce-scatter (None: the param dtype)
    fsdp_reshard_after_forward: bool = True  # free gathered params after forward (ZeRO-3); false = ZeRO-2


@dataclass
class TrainConfig:
    """A full training run."""

    run_dir: str = "runs/default"
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N (with torchrun: cuda:<local_rank>)
    epochs: int = 1
    total_steps: int | None = None  # default: epochs x steps per epoch (schedule length)
    stop_after_steps: int | None = None  # stop early (schedule unchanged); resume continues
    accum_freq: int = 1  # micro-batches per step (feature-cache accumulation: same as a bigger batch)
    precision: str = "fp32"  # fp32 | bf16 (autocast)
    log_every_n_steps: int = 10
    max_bad_steps: int = 5  # stop after this many consecutive non-finite losses
    progress: bool = True  # tqdm bar on rank 0
    tensorboard: bool = True
    peak_flops: float | None = None  # peak FLOP/s per device for the MFU field (default: GPU table, flops.py)
    dist: DistConfig = field(default_factory=DistConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)

    def validate(self) -> None:
        if self.precision not in ("fp32", "bf16"):
            raise ConfigError(f"precision must be fp32 or bf16, got {self.precision!r}")
        if self.dist.strategy not in ("ddp", "fsdp"):
            raise ConfigError(f"dist.strategy must be ddp or fsdp, got {self.dist.strategy!r}")
        for k in ("fsdp_param_dtype", "fsdp_reduce_dtype"):
            if getattr(self.dist, k) not in (None, "bf16", "fp16", "fp32"):
                raise ConfigError(f"dist.{k} must be bf16, fp16, fp32 or null, got {getattr(self.dist, k)!r}")
        if self.accum_freq < 1 or self.epochs < 1:
            raise ConfigError("accum_freq and epochs must be >= 1")
        if not self.data.source_list():
            raise ConfigError("no training data: set data.train=<shard folder or URL> or data.sources")
