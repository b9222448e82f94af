"""Building the pieces of a run from its config: model (+ locks), data loader, step counts."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from ..config import ConfigError
from ..data.check import check_source
from ..data.errors import DataError
from ..data.loader import ShardStream, TrainLoader
from ..data.urls import expand_urls, shard_sizes
from .config import TrainConfig
from .distributed import DistEnv
from .text_cache import TextFeatureCache, has_hf_text, text_projection_params

log = logging.getLogger(__name__)


class TrainError(RuntimeError):
    """A run-stopping problem with a one-line message for the user."""


@dataclass
class Plan:
    """Step arithmetic of a run."""

    samples_per_epoch: int
    global_batch: int
    steps_per_epoch: int
    total_steps: int
    epochs: int
    split_by: str


def build_model(cfg: TrainConfig, env: DistEnv):
    """Create the model (tokenizer, preprocessing) and apply locks; returns (model, tokenizer, text_cache)."""
    from ..models import create_model
    from ..models.train_options import enable_grad_checkpointing, use_channels_last

    m = cfg.model
    kw = {}
    if m.init_logit_scale is not None:
        kw["init_logit_scale"] = m.init_logit_scale
    if m.init_logit_bias is not None:
        kw["init_logit_bias"] = m.init_logit_bias
    try:
        model, _, tokenizer = create_model(
            m.name, m.pretrained, device=env.device, pretrained_text=m.pretrained_text, **kw
        )
    except ValueError as e:
        raise TrainError(str(e).splitlines()[0]) from None
    model.train()
    if m.grad_checkpointing:
        enable_grad_checkpointing(model)
    if cfg.data.channels_last:
        use_channels_last(model)
    if m.lock_image:
        model.lock_image_tower(unlocked_groups=0)
    cache = None
    if m.lock_text:
        for name, p in model.named_parameters():
            if not name.startswith("visual.") and name not in ("logit_scale", "logit_bias"):
                p.requires_grad_(False)
        pooled = not m.lock_text_proj
        if pooled:
            params = text_projection_params(model)
            if not params:
                raise TrainError(f"model.lock_text_proj=false: {m.name} has no separate text projection")
            for p in params:
                p.requires_grad_(True)
        cache = TextFeatureCache(model, tokenizer, pooled=pooled, device=env.device)
        log.info(
            "text tower locked (%s); caption features cached by text",
            "projection trainable" if pooled else "projection frozen" if has_hf_text(model) else "frozen",
        )
    return model, tokenizer, cache


def source_urls(cfg: TrainConfig, env: DistEnv) -> tuple[list[list[str]], list[float], list[int | None]]:
    """Expanded shard lists, mixing weights and known sizes per source (runs the shard check)."""
    srcs = cfg.data.source_list()
    given = [s.weight for s in srcs]
    if any(w is not None for w in given) and any(w is None for w in given):
        raise ConfigError("data.sources: give a weight for every source or for none")
    urls, sizes = [], []
    for s in srcs:
        if cfg.data.check:
            rep = check_source(
                s.url,
                n_samples=cfg.data.check_samples,
                high_bit_depth=cfg.data.high_bit_depth,
                kinds=cfg.data.caption_kinds or None,
            )
            urls.append(rep.shards)
            sizes.append(rep.samples)
        else:
            u = expand_urls(s.url)
            known = shard_sizes(u)
            urls.append(u)
            sizes.append(sum(known.values()) if len(known) == len(u) else None)
    if given[0] is not None:
        weights = [float(w) for w in given]
    elif len(urls) > 1 and not cfg.data.resampled:  # epoch mode: one pool, proportional to size
        urls, sizes = [[u for us in urls for u in us]], [None if None in sizes else sum(sizes)]
        weights = [1.0]
    else:
        weights = [float(z) if z else float(len(u)) for z, u in zip(sizes, urls)]
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ConfigError("data: mixing weights must be >= 0 with a positive sum")
    return urls, weights, sizes


def make_plan(cfg: TrainConfig, env: DistEnv, urls: list[list[str]], sizes: list[int | None]) -> Plan:
    """Samples per epoch, steps per epoch, total steps and the split mode."""
    spe_samples = cfg.data.samples_per_epoch
    if spe_samples is None:
        if None in sizes:
            raise DataError("no sizes.json next to the shards: set data.samples_per_epoch (samples per epoch)")
        spe_samples = sum(sizes)
    gb = cfg.data.batch_size * env.world_size * cfg.accum_freq
    steps = spe_samples // gb
    if steps < 1:
        raise ConfigError(
            f"global batch {gb} (data.batch_size x ranks x accum_freq) exceeds the {spe_samples} "
            "samples per epoch; lower data.batch_size"
        )
    total = cfg.total_steps or cfg.epochs * steps
    n_units = env.world_size * max(1, cfg.data.workers)
    split = cfg.data.split_by
    if split == "auto":
        split = "shard" if all(len(u) >= n_units for u in urls) else "sample"
        if split == "sample" and not cfg.data.resampled:
            log.warning(
                "fewer shards than ranks x workers (%d): splitting by sample (every reader reads all shards)",
                n_units,
            )
    return Plan(spe_samples, gb, steps, total, -(-total // steps), split)


def build_loader(cfg: TrainConfig, env: DistEnv, plan: Plan, urls, weights, image_size: int, tokenizer) -> TrainLoader:
    """The rank's :class:`TrainLoader` (tokenizing in workers unless the text tower is locked)."""
    ds = ShardStream(
        urls,
        weights,
        cfg.data,
        seed=cfg.seed,
        rank=env.rank,
        world_size=env.world_size,
        image_size=image_size,
        batches_per_epoch=plan.steps_per_epoch * cfg.accum_freq,
        split_by=plan.split_by,
        tokenizer=None if cfg.model.lock_text else tokenizer,
    )
    return TrainLoader(ds, device_type=env.device.type)


def image_geometry(model, cfg: TrainConfig) -> tuple[int, tuple, tuple]:
    """(image size, mean, std) of the model's preprocessing (data.image_size must match when set)."""
    size = model.visual.image_size
    size = int(size[0] if isinstance(size, (tuple, list)) else size)
    if cfg.data.image_size is not None and cfg.data.image_size != size:
        raise ConfigError(f"data.image_size={cfg.data.image_size} but {cfg.model.name} takes {size} px images")
    pcfg = getattr(model.visual, "preprocess_cfg", {}) or {}
    mean = tuple(pcfg.get("mean", (0.48145466, 0.4578275, 0.40821073)))
    std = tuple(pcfg.get("std", (0.26862954, 0.26130258, 0.27577711)))
    return size, mean, std


def wrap_ddp(module: torch.nn.Module, env: DistEnv) -> torch.nn.Module:
    """DDP on >1 process (``device_ids`` only on CUDA: passing a CPU device is an error)."""
    if not env.distributed:
        return module
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [env.device.index] if env.device.type == "cuda" else None
    return DDP(module, device_ids=ids, broadcast_buffers=False)
