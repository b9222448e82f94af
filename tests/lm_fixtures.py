"""A tiny randomly initialised causal LM saved offline, for tests of the ``hf`` caption backend.

``save_tiny_lm(path)`` writes the MiniLM tokenizer (bundled with medclip) and a 1-layer GPT-2 (``n_embd=32``,
weights from ``torch.manual_seed(0)``) to ``path``; it generates gibberish, which is what the tests need.
"""

from __future__ import annotations

from pathlib import Path


def save_tiny_lm(path: Path) -> str:
    import torch
    from transformers import BertTokenizerFast, GPT2Config, GPT2LMHeadModel

    from medclip.models import minilm_path

    tok = BertTokenizerFast.from_pretrained(str(minilm_path()), local_files_only=True)
    tok.save_pretrained(path)
    torch.manual_seed(0)
    cfg = GPT2Config(
        vocab_size=len(tok), n_layer=1, n_head=2, n_embd=32, n_positions=1024,
        bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id, pad_token_id=tok.pad_token_id,
    )  # fmt: skip
    GPT2LMHeadModel(cfg).save_pretrained(path)
    return str(path)
