"""Loading base / expert models for merging: checkpoints or registered names, plus stored LoRA factors."""

from __future__ import annotations

import logging
import os

import torch

from medclip import create_model
from medclip.merge.dual_ops import LowRank
from medclip.merge.lora import base_minus_expert
from medclip.models import create_model_from_checkpoint, read_checkpoint_name

log = logging.getLogger(__name__)


def load_model(path_or_name: str):
    """``(model, preprocess, tokenizer, architecture name)`` from a medclip checkpoint or a model name."""
    if os.path.isfile(path_or_name):
        model, preprocess, tok = create_model_from_checkpoint(path_or_name)
        return model, preprocess, tok, read_checkpoint_name(path_or_name)
    model, preprocess, tok = create_model(path_or_name)
    return model, preprocess, tok, path_or_name


def checkpoint_extras(path: str) -> dict:
    """The ``expert`` metadata and ``lora`` factors stored by ``make_expert`` (empty for other files)."""
    if not os.path.isfile(path):
        return {}
    ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return {k: ckpt[k] for k in ("expert", "lora") if isinstance(ckpt, dict) and k in ckpt}


def stored_lowrank(extras: dict, base_sd: dict, expert_sd: dict, atol: float = 1e-4) -> dict[str, LowRank] | None:
    """The delta engine's ``theta_b - theta_e`` factors, if the stored LoRA factors match this pair."""
    lora = extras.get("lora")
    if not lora:
        return None
    factors = {k: LowRank(v["a"].float(), v["b"].float()) for k, v in lora.items()}
    for k, f in factors.items():
        if k not in base_sd or not torch.allclose(expert_sd[k] - base_sd[k], f.b @ f.a, atol=atol):
            log.warning("stored LoRA factors do not match this base model at %s; using dense deltas", k)
            return None
    return base_minus_expert(factors)
