"""Zero-shot text classifier weights: one normalized embedding per class from a prompt ensemble.

This is the single implementation used by the trainer's in-training evaluation, the ``zeroshot``
package, the prompt learners (as the zero-shot teacher) and the merge engines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F


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
    feats = []
    for i in range(0, len(flat), batch_size):
        tokens = tokenizer(flat[i : i + batch_size]).to(device)
        feats.append(F.normalize(model.encode_text(tokens).float(), dim=-1))
    feats = torch.cat(feats)
    sums = torch.zeros(len(class_prompts), feats.shape[1], device=device).index_add_(0, owner, feats)
    return F.normalize(sums, dim=-1)
