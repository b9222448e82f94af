"""Loading base / expert models for merging (through :func:`medclip.models.load.load_model`: a medclip
checkpoint, an open_clip name with ``pretrained`` weights, ``hf-hub:`` or ``local-dir:``), plus stored LoRA
factors."""

from __future__ import annotations

import logging
import os

import torch

from medclip.merge.dual_ops import LowRank
from medclip.merge.lora import base_minus_expert
from medclip.models.load import load_model as _load

log = logging.getLogger(__name__)


def load_model(spec: str, pretrained: str | None = None):
    """``(model, preprocess, tokenizer, architecture)`` for any model spec ``medclip.models.load`` accepts.

    ``architecture`` is the registered / open_clip name (read from a medclip checkpoint), or None for
    ``hf-hub:`` / ``local-dir:`` specs, whose folder (not a name) defines the architecture.
    """
    model, preprocess, tok, info = _load(spec, pretrained)
    return model, preprocess, tok, architecture(info["name"])


def architecture(name: str) -> str | None:
    """``name`` unless it is an ``hf-hub:`` / ``local-dir:`` spec (then None: compared by state-dict keys)."""
    return None if str(name).startswith(("hf-hub:", "local-dir:")) else str(name)


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
