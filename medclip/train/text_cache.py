"""Locked text tower with caption features cached by caption text (LiT-style).

With ``model.lock_text`` the text tower is frozen and each distinct caption is encoded once. Two modes:

- ``lock_text_proj: true``: the cached value is the tower's full output; text features are constants.
- ``lock_text_proj: false``: the cached value is the pooled output *before* the projection, and the
  projection (HF ``text.proj`` MLP, or open_clip's ``text_projection``) keeps training on it.
"""

from __future__ import annotations

import torch


def has_hf_text(model) -> bool:
    """True for CustomTextCLIP models with an HF text tower (``model.text.proj``)."""
    return hasattr(model, "text") and hasattr(model.text, "transformer") and hasattr(model.text, "proj")


def text_projection_params(model) -> list[torch.nn.Parameter]:
    """The parameters that map pooled text to the joint space."""
    if has_hf_text(model):
        return list(model.text.proj.parameters())
    proj = getattr(model, "text_projection", None)
    if isinstance(proj, torch.nn.Parameter):
        return [proj]
    return list(proj.parameters()) if isinstance(proj, torch.nn.Module) else []


def project_text(model, pooled: torch.Tensor) -> torch.Tensor:
    """Apply the (trainable) text projection to cached pooled outputs."""
    if has_hf_text(model):
        return model.text.proj(pooled)
    proj = model.text_projection
    return proj(pooled) if isinstance(proj, torch.nn.Module) else pooled @ proj


class TextFeatureCache:
    """Encode-once cache: ``features(texts)`` returns a ``(B, d)`` float32 tensor on ``device``."""

    def __init__(self, model, tokenizer, *, pooled: bool, device, batch_size: int = 256, max_entries: int = 2_000_000):
        self.model, self.tokenizer, self.pooled = model, tokenizer, pooled
        self.device, self.batch_size, self.max_entries = device, batch_size, max_entries
        self.cache: dict[str, torch.Tensor] = {}
        self.misses = 0

    @torch.no_grad()
    def _encode(self, texts: list[str]) -> torch.Tensor:
        ids = self.tokenizer(texts).to(self.device)
        m = self.model
        if not self.pooled:
            return m.encode_text(ids, normalize=False).float()
        if has_hf_text(m):
            mask = (ids != m.text.config.pad_token_id).long()
            out = m.text.transformer(input_ids=ids, attention_mask=mask)
            return m.text.pooler(out, mask).float()
        saved = m.text_projection  # open_clip text tower: run it without the projection
        try:
            m.text_projection = None
            return m.encode_text(ids, normalize=False).float()
        finally:
            m.text_projection = saved

    def features(self, texts: list[str]) -> torch.Tensor:
        """Cached (pooled or final) features of ``texts`` in order."""
        missing = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if missing:
            self.misses += len(missing)
            was_training = self.model.training
            self.model.eval()
            for i in range(0, len(missing), self.batch_size):
                chunk = missing[i : i + self.batch_size]
                for t, f in zip(chunk, self._encode(chunk)):
                    if len(self.cache) < self.max_entries:
                        self.cache[t] = f
            self.model.train(was_training)
            if any(t not in self.cache for t in texts):  # cache full: encode this batch directly
                return self._encode(list(texts))
        return torch.stack([self.cache[t] for t in texts])
