"""Zero-shot text classifier weights: one normalized embedding per class from a prompt ensemble.

This is the single implementation used by the trainer's in-training evaluation, the ``zeroshot``
package, the prompt learners (as the zero-shot teacher) and the merge engines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F


def trim_padding(tokens: torch.Tensor, pad_id: int = 0) -> torch.Tensor:
    """Drop trailing columns that are padding (``pad_id``) in every row.

    Tokenizers pad to the model's full context (64-256 tokens) while prompts are ~15 tokens; the text
    towers ignore padding (attention masks, causal attention + EOT pooling), so the embeddings are unchanged
    and text encoding is several times cheaper. Tokenizers with another pad id are left untouched.
    """
    if tokens.ndim != 2 or tokens.shape[1] == 0:
        return tokens
    used = (tokens != pad_id).any(dim=0).nonzero()
    if len(used) == 0:
        return tokens
    return tokens[:, : int(used[-1]) + 1]


def supports_trimmed_text(model: torch.nn.Module) -> bool:
    """Whether ``model.encode_text`` accepts token ids shorter than the context (HF text towers do;
    open_clip's built-in CLIP text tower adds the full positional table and does not)."""
    text = getattr(model, "text", None)
    return text is not None and type(text).__name__ == "HFTextEncoder"


@torch.no_grad()
def encode_texts(
    model: torch.nn.Module,
    tokenizer: Callable[[list[str]], torch.Tensor],
    texts: Sequence[str],
    *,
    device: str | torch.device | None = None,
    batch_size: int = 256,
) -> torch.Tensor:
    """Unit-norm float32 text embeddings ``(N, d)`` in the order of ``texts``.

    For HF text towers the texts are encoded in length-sorted batches of at most 64, each trimmed to its
    longest text (:func:`trim_padding`): the embeddings are identical and short prompts cost far less.
    """
    if device is None:
        device = next(model.parameters()).device
    if len(texts) > 4096:  # bound the token matrix held at once
        parts = [
            encode_texts(model, tokenizer, texts[i : i + 4096], device=device, batch_size=batch_size)
            for i in range(0, len(texts), 4096)
        ]
        return torch.cat(parts)
    tokens = tokenizer(list(texts))
    order = torch.arange(len(texts))
    trim = supports_trimmed_text(model)
    if trim:
        batch_size = min(batch_size, 64)
        order = torch.argsort((tokens != 0).sum(1), stable=True)
    feats = torch.empty(0)
    for i in range(0, len(texts), batch_size):
        idx = order[i : i + batch_size]
        batch = trim_padding(tokens[idx]) if trim else tokens[idx]
        f = F.normalize(model.encode_text(batch.to(device)).float(), dim=-1)
        if feats.numel() == 0:
            feats = torch.empty(len(texts), f.shape[1], device=f.device)
        feats[idx.to(f.device)] = f
    return feats


@torch.no_grad()
def build_text_classifier(
    model: torch.nn.Module,
    tokenizer: Callable[[list[str]], torch.Tensor],
    class_prompts: Sequence[Sequence[str]],
    *,
    device: str | torch.device | None = None,
    batch_size: int = 256,
) -> torch.Tensor:
    """Return a ``(C, d)`` float32 tensor of unit-norm class embeddings.

    For each class every prompt is encoded and L2-normalized; the class embedding is the mean of those
    unit vectors, normalized again (the ensemble is averaged in normalized space).

    Args:
        model: an open_clip-style model with ``encode_text``.
        tokenizer: maps a list of strings to token ids.
        class_prompts: for each class, a non-empty list of prompt strings.
        device: where to run; defaults to the model's device.
        batch_size: prompts encoded per forward.
    """
    if len(class_prompts) == 0:
        raise ValueError("class_prompts is empty")
    for c, prompts in enumerate(class_prompts):
        if isinstance(prompts, str) or len(prompts) == 0:
            raise ValueError(f"class {c}: expected a non-empty list of prompts, got {prompts!r}")
    if device is None:
        device = next(model.parameters()).device
    flat = [p for prompts in class_prompts for p in prompts]
    owner = torch.tensor([c for c, prompts in enumerate(class_prompts) for _ in prompts], device=device)
    feats = encode_texts(model, tokenizer, flat, device=device, batch_size=batch_size)
    sums = torch.zeros(len(class_prompts), feats.shape[1], device=device).index_add_(0, owner, feats)
    return F.normalize(sums, dim=-1)
