"""Offline stand-ins for real-size text towers, so real architectures can be built without downloads.

``bert_base_standin_path()`` writes a folder with a BERT-base configuration (12 layers, width 768,
12 heads, vocab 30522 — the shape of BiomedBERT / PubMedBERT base) and the MiniLM WordPiece tokenizer, but
no weights. With ``pretrained_text=False`` open_clip builds the exact BiomedCLIP / UniMed-CLIP module tree
(random weights) from it; a real checkpoint then loads into that tree. Used by the registry contract tests.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .local_text import _TOKENIZER_FILES, cache_root, minilm_path


def bert_base_standin_path() -> Path:
    """Folder with a BERT-base config + WordPiece tokenizer (no weights)."""
    out = cache_root() / "bert-base-standin-v1"
    if (out / "config.json").is_file():
        return out
    from transformers import BertConfig

    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    src = minilm_path()
    for name in _TOKENIZER_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, tmp / name)
    BertConfig(
        vocab_size=30522,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        max_position_embeddings=512,
        pad_token_id=0,
    ).save_pretrained(tmp)
    try:
        tmp.rename(out)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def standin_text_cfg(text_cfg: dict) -> dict:
    """A copy of an HF ``text_cfg`` whose model and tokenizer point at the offline BERT-base stand-in."""
    cfg = dict(text_cfg)
    path = str(bert_base_standin_path())
    cfg["hf_model_name"] = path
    cfg["hf_tokenizer_name"] = path
    cfg["hf_model_pretrained"] = False  # random weights: the folder holds a config only
    return cfg
