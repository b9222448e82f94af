"""One factory over open_clip: ``create_model(name, ...) -> (model, preprocess, tokenizer)``."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import open_clip
import torch
from open_clip.factory import parse_model_name

from .registry import ensure_registered, list_models, unknown_model_error

log = logging.getLogger(__name__)


def _is_known(name: str) -> bool:
    schema, _ = parse_model_name(name)
    if schema is not None:
        return True
    return name in list_models(include_open_clip=True)


def _local_dir_text_tower(name: str, model_kwargs: dict) -> dict:
    """For a ``local-dir:`` export with an HF text tower, build the tower from the folder's own config.json.

    Exports name the tower by hub id (plain open_clip resolves it there); medclip needs no hub for it.
    """
    schema, ident = parse_model_name(name)
    folder = Path(ident) if schema == "local-dir" else None
    if folder is None or "text_cfg" in model_kwargs or not (folder / "config.json").is_file():
        return model_kwargs
    config_path = folder / "open_clip_config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    text_cfg = config.get("model_cfg", {}).get("text_cfg", {})
    if not text_cfg.get("hf_model_name"):
        return model_kwargs
    here = str(folder.resolve())
    override = {**text_cfg, "hf_model_name": here, "hf_tokenizer_name": here, "hf_model_pretrained": False}
    return {**model_kwargs, "text_cfg": override}


def create_model(
    name: str,
    pretrained: str | None = None,
    *,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
    pretrained_text: bool = True,
    output_dict: bool = True,
    **model_kwargs: Any,
) -> tuple[torch.nn.Module, Any, Any]:
    """Build a CLIP-style model, its evaluation preprocessing and its tokenizer.

    Args:
        name: a medclip architecture (``medclip-tiny``, ``medclip-small``, ``biomedclip-vit-b16``,
            ``unimed-clip-vit-b16`` ...), any open_clip name (``ViT-B-16``), ``hf-hub:<repo>`` (e.g.
            ``hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224``) or ``local-dir:<folder>``.
        pretrained: a checkpoint file (medclip trainer checkpoint, open_clip state dict or safetensors) or an
            open_clip pretrained tag. Ignored for ``hf-hub:`` / ``local-dir:`` names, which carry weights.
        device: target device.
        precision: ``fp32``, ``bf16``, ``fp16``, ``pure_bf16`` ... as in open_clip.
        pretrained_text: load the HF text tower's own pretrained weights when no full checkpoint is given
            (``medclip-small`` then starts from the pretrained MiniLM).
        output_dict: make ``model(image, text)`` return a dict (``image_features``, ``text_features``,
            ``logit_scale`` ...).
        **model_kwargs: forwarded to the open_clip model constructor.

    Returns:
        ``(model, preprocess, tokenizer)``: the model in eval mode, the evaluation transform (PIL image ->
        tensor) and a callable mapping a list of strings to a ``LongTensor`` of token ids.

    Raises:
        ValueError: unknown model name (with the closest names) or missing checkpoint file.
    """
    if not _is_known(name):
        raise unknown_model_error(name)
    ensure_registered(name)
    model_kwargs = _local_dir_text_tower(name, model_kwargs)
    if pretrained is not None and not os.path.isfile(pretrained):
        tags = open_clip.list_pretrained_tags_by_model(name) if name in open_clip.list_models() else []
        if pretrained not in tags:
            raise ValueError(f"pretrained checkpoint not found: {pretrained!r}")
    model, _, preprocess = open_clip.create_model_and_transforms(
        name,
        pretrained=pretrained,
        device=device,
        precision=precision,
        pretrained_text=pretrained_text,
        output_dict=output_dict,
        **model_kwargs,
    )
    model.eval()
    text_cfg = model_kwargs.get("text_cfg")
    if text_cfg and text_cfg.get("hf_tokenizer_name"):
        # A text tower override (e.g. an offline stand-in) brings its own tokenizer.
        tokenizer = open_clip.tokenizer.HFTokenizer(
            text_cfg["hf_tokenizer_name"], context_length=text_cfg.get("context_length", 77)
        )
    else:
        tokenizer = get_tokenizer(name)
    return model, preprocess, tokenizer


def get_tokenizer(name: str, context_length: int | None = None):
    """The tokenizer of a registered / open_clip / hub model (offline for medclip models)."""
    if not _is_known(name):
        raise unknown_model_error(name)
    ensure_registered(name)
    return open_clip.get_tokenizer(name, context_length=context_length)


def read_checkpoint_name(path: str) -> str:
    """The architecture name stored in a medclip trainer checkpoint (key ``name``)."""
    if not os.path.isfile(path):
        raise ValueError(f"checkpoint not found: {path!r}")
    ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    if not isinstance(ckpt, dict) or "name" not in ckpt:
        raise ValueError(f"{path!r} is not a medclip checkpoint (no 'name' key); pass the model name")
    return str(ckpt["name"])


def create_model_from_checkpoint(path: str, **kwargs: Any) -> tuple[torch.nn.Module, Any, Any]:
    """``create_model`` for a medclip trainer checkpoint, reading the architecture name from it."""
    return create_model(read_checkpoint_name(path), pretrained=path, **kwargs)
