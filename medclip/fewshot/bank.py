"""LLM description banks: JSON ``{classname: [description, ...]}`` (spec §7).

BiomedCoOp indexes descriptions by position (prompt i of every class forms template i), so a class with
fewer than N strings is an error naming it, never a silent truncation. Keys must match the class names
exactly. ``dedupe`` removes exact duplicates (keeps first occurrences) for class means only.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F


def load_bank(path: str | Path) -> dict[str, list[str]]:
    """Read and type-check a bank file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"prompt bank not found: {path}")
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(
        isinstance(v, list) and all(isinstance(s, str) for s in v) for v in data.values()
    ):
        raise ValueError(f"{path}: a prompt bank maps class names to lists of strings")
    return data


def bank_hash(bank: dict[str, list[str]]) -> str:
    """Content hash (sha256 of the canonical JSON) saved with results and checkpoints (P22)."""
    return hashlib.sha256(json.dumps(bank, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def select_bank(
    bank: dict[str, list[str]],
    classnames: Sequence[str],
    n_prompts: int | None = None,
    *,
    dedupe: bool = False,
) -> list[list[str]]:
    """The first ``n_prompts`` descriptions of each class, in class order (all when ``n_prompts`` is None)."""
    missing = [c for c in classnames if c not in bank]
    if missing:
        raise ValueError(f"prompt bank has no entry for class(es) {missing}; keys: {sorted(bank)[:10]}...")
    out = []
    for c in classnames:
        items = list(bank[c])
        if dedupe:
            items = list(dict.fromkeys(items))
        if n_prompts is not None:
            if len(items) < n_prompts:
                raise ValueError(f"prompt bank class {c!r} has {len(items)} descriptions, {n_prompts} needed")
            items = items[:n_prompts]
        if not items:
            raise ValueError(f"prompt bank class {c!r} is empty")
        out.append(items)
    return out


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _weights_version(model) -> tuple:
    # data pointers and in-place version counters of the text-side weights: any update invalidates the cache
    return tuple((p.data_ptr(), p._version) for p in model.parameters())


@torch.no_grad()
def encode_texts(model, tokenizer, texts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
    """Unit-norm float32 features ``(n, d)`` of ``texts`` with the text tower in eval mode.

    Results are memoized per model and text list (frozen teachers and banks are re-encoded by every
    (K, seed) run otherwise); the memo is invalidated when any model weight changes.
    """
    key = tuple(texts)
    version = _weights_version(model)
    memo = _CACHE.setdefault(model, {})
    hit = memo.get(key)
    if hit is not None and hit[0] == version:
        return hit[1].clone()
    feats = _encode_texts(model, tokenizer, texts, batch_size)
    memo[key] = (version, feats)
    return feats.clone()


def _encode_texts(model, tokenizer, texts: Sequence[str], batch_size: int) -> torch.Tensor:
    mods = list(model.modules())
    flags = [m.training for m in mods]
    model.eval()
    device = next(model.parameters()).device
    try:
        feats = [
            F.normalize(model.encode_text(tokenizer(list(texts[i : i + batch_size])).to(device)).float(), dim=-1)
            for i in range(0, len(texts), batch_size)
        ]
    finally:
        for m, f in zip(mods, flags):
            m.training = f
    return torch.cat(feats)
