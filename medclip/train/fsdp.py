"""FSDP2 (``torch.distributed.fsdp.fully_shard``) for the training module: ``dist.strategy: fsdp``.

Wrapping: every transformer block of both towers is its own FSDP unit (its parameters are all-gathered just
before it runs and freed after, ``reshard_after_forward``), then the image tower and an HF / custom text tower
as a whole (patch embedding, norms, heads), then the training module as the root (for open_clip's native CLIP,
whose text embedding, positional embedding, final norm and projection sit on the model itself). Parameters
become ``DTensor`` shards on dim 0 with unchanged names, so ``model.state_dict()`` keeps open_clip's keys.

The 0-dim ``logit_scale`` / ``logit_bias`` cannot be sharded (FSDP2 rejects scalar parameters): they stay
replicated plain tensors, ignored by FSDP, and a post-accumulate-grad hook averages their gradient across
ranks (idempotent on an already averaged value, so it is right under gradient accumulation too).

Mixed precision (``dist.fsdp_param_dtype`` / ``fsdp_reduce_dtype``): the sharded fp32 master weights are
cast to the param dtype when gathered (compute), gradients reduce-scattered in the reduce dtype, and the
optimizer steps on fp32 shards. Checkpoints: :mod:`medclip.train.checkpoint` (``torch.distributed.checkpoint``).
"""

from __future__ import annotations

import torch
import torch.distributed as dist

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32, None: None}


def transformer_blocks(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The transformer blocks of both towers of an open_clip model (ViT / timm ViT / text transformer / HF)."""
    blocks: list[torch.nn.Module] = []
    visual = model.visual
    if hasattr(visual, "trunk") and hasattr(visual.trunk, "blocks"):
        blocks += list(visual.trunk.blocks)
    elif hasattr(visual, "transformer"):
        blocks += list(visual.transformer.resblocks)
    text = getattr(model, "text", None)
    if text is not None and hasattr(text, "transformer") and hasattr(text.transformer, "encoder"):
        blocks += list(text.transformer.encoder.layer)  # HF BERT-like
    elif text is not None and hasattr(text, "transformer") and hasattr(text.transformer, "resblocks"):
        blocks += list(text.transformer.resblocks)
    elif hasattr(model, "transformer") and hasattr(model.transformer, "resblocks"):
        blocks += list(model.transformer.resblocks)
    if not blocks:
        raise ValueError(f"dist.strategy=fsdp: no transformer blocks found in {type(model).__name__}")
    return blocks


def _ensure_group(device: torch.device) -> None:
    # a single process still needs a (1-rank) group for DeviceMesh / DTensor
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)


def _average_grad(param: torch.Tensor) -> None:
    if param.grad is not None and dist.get_world_size() > 1:
        dist.all_reduce(param.grad)
        param.grad.div_(dist.get_world_size())


def shard_module(
    module: torch.nn.Module,
    *,
    device: torch.device,
    param_dtype: str | None = None,
    reduce_dtype: str | None = None,
    reshard_after_forward: bool = True,
) -> torch.nn.Module:
    """Apply FSDP2 in place to a :class:`~medclip.train.module.ContrastiveModule` and return it.

    Call it before building the optimizer (the optimizer must see the sharded parameters).

    Args:
        module: the training module (``module.model`` is the open_clip model).
        device: this rank's device (the mesh's device type).
        param_dtype: compute dtype of gathered parameters (``bf16``, ``fp16``, ``fp32`` or None = as stored).
        reduce_dtype: dtype of the gradient reduce-scatter (None: the param dtype).
        reshard_after_forward: free gathered block parameters after the forward (re-gathered in backward).

    Returns:
        ``module``, now an FSDP module (its ``unshard()`` / ``reshard()`` are available).
    """
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    _ensure_group(device)
    mesh = init_device_mesh(device.type, (dist.get_world_size(),))
    mp = MixedPrecisionPolicy(param_dtype=DTYPES[param_dtype], reduce_dtype=DTYPES[reduce_dtype])
    kw = {"mesh": mesh, "mp_policy": mp, "reshard_after_forward": reshard_after_forward}
    model = module.model
    for block in transformer_blocks(model):
        fully_shard(block, **kw)
    fully_shard(model.visual, **kw)
    text = getattr(model, "text", None)
    if text is not None:
        fully_shard(text, **kw)
    scalars = {p for p in module.parameters() if p.ndim == 0}
    fully_shard(module, ignored_params=scalars, **kw)
    for p in scalars:
        if p.requires_grad:
            p.register_post_accumulate_grad_hook(_average_grad)
    return module


def shard_for_training(module: torch.nn.Module, env, cfg) -> torch.nn.Module:
    """:func:`shard_module` with the run's ``dist`` settings (``dist.fsdp_param_dtype`` etc.)."""
    d = cfg.dist
    return shard_module(
        module,
        device=env.device,
        param_dtype=d.fsdp_param_dtype,
        reduce_dtype=d.fsdp_reduce_dtype,
        reshard_after_forward=d.fsdp_reshard_after_forward,
    )


def is_sharded(model: torch.nn.Module) -> bool:
    """True when any parameter of ``model`` is a DTensor (FSDP2 applied)."""
    from torch.distributed.tensor import DTensor

    return any(isinstance(p, DTensor) for p in model.parameters())


__all__ = ["DTYPES", "is_sharded", "shard_for_training", "shard_module", "transformer_blocks"]
