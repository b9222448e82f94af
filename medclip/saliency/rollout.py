"""Gradient-weighted attention rollout (Chefer, Gur and Wolf, 2021, "Generic Attention-model Explainability for
Interpreting Bi-Modal and Encoder-Decoder Transformers", ICCV) for open_clip's VisionTransformer.

For every block ``b`` with attention ``A_b`` (heads x tokens x tokens) and the gradient of the class score
with respect to it, ``Abar_b = mean_heads(relu(grad_b * A_b))``; the relevance starts as the identity and
is updated ``R <- R + Abar_b @ R`` block by block; the map is the class token's row over the patch tokens.

open_clip calls ``nn.MultiheadAttention`` with ``need_weights=False`` (fused kernels), so during the one
forward pass each block's ``attention`` is swapped, on the instance only, for an explicit
softmax(QK^T / sqrt(d)) V with the same weights that keeps ``A_b`` in the graph; the swap is undone after.
"""

from __future__ import annotations

import math
import types

import torch
import torch.nn.functional as F

from medclip.saliency.gradcam import _vision_tower, class_score, to_image
from medclip.saliency.registry import SALIENCY


def _explicit_attention(store: list[torch.Tensor]):
    def attention(self, q_x, k_x=None, v_x=None, attn_mask=None):
        mha = self.attn
        if k_x is not None or v_x is not None or attn_mask is not None or mha.in_proj_weight is None:
            raise ValueError("attention rollout supports self-attention blocks without masks only")
        x = q_x if mha.batch_first else q_x.transpose(0, 1)  # [B, N, C]
        b, n, c = x.shape
        h = mha.num_heads
        q, k, v = F.linear(x, mha.in_proj_weight, mha.in_proj_bias).split(c, dim=-1)
        q, k, v = (t.reshape(b, n, h, c // h).transpose(1, 2) for t in (q, k, v))  # [B, h, N, d]
        attn = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(c // h), dim=-1)
        store.append(attn)
        out = (attn @ v).transpose(1, 2).reshape(b, n, c)
        out = mha.out_proj(out)
        return out if mha.batch_first else out.transpose(0, 1)

    return attention


def rollout_grid(
    model: torch.nn.Module,
    image: torch.Tensor,
    text_embedding: torch.Tensor,
    *,
    classes: torch.Tensor | None = None,
    target: str = "similarity",
) -> torch.Tensor:
    """Gradient-weighted rollout relevance on the patch grid (non-negative, before upsampling)."""
    visual = _vision_tower(model)
    if getattr(visual, "pool_type", "tok") != "tok":
        raise ValueError("attention rollout reads the class token's relevance; this tower does not pool on it")
    blocks = list(visual.transformer.resblocks)
    if not all(isinstance(getattr(b, "attn", None), torch.nn.MultiheadAttention) for b in blocks):
        raise ValueError("attention rollout needs nn.MultiheadAttention blocks")
    grid_h, grid_w = visual.grid_size
    store: list[torch.Tensor] = []
    was_training = model.training
    model.eval()
    for b in blocks:
        b.attention = types.MethodType(_explicit_attention(store), b)
    try:
        with torch.enable_grad():
            x = image.detach().clone().requires_grad_(True)
            img = F.normalize(model.encode_image(x), dim=-1)[0]
            score = class_score(model, img, text_embedding, classes, target)
            grads = torch.autograd.grad(score, store)
    finally:
        for b in blocks:
            del b.attention  # back to the class method
        model.train(was_training)
    n_tok = store[0].shape[-1]
    rel = torch.eye(n_tok, dtype=store[0].dtype)
    for attn, grad in zip(store, grads):
        abar = torch.relu(grad[0] * attn[0].detach()).mean(dim=0)  # [N, N]
        rel = rel + abar @ rel
    n_patch = grid_h * grid_w
    return rel[0, -n_patch:].reshape(grid_h, grid_w)


def rollout(
    model: torch.nn.Module,
    image: torch.Tensor,
    text_embedding: torch.Tensor,
    *,
    classes: torch.Tensor | None = None,
    target: str = "similarity",
) -> torch.Tensor:
    """Gradient-weighted attention rollout map at image resolution, in [0, 1]."""
    return to_image(rollout_grid(model, image, text_embedding, classes=classes, target=target), image)


SALIENCY.register("rollout", rollout, paper="Chefer et al. 2021", passes=1, needs_classes=False)
SALIENCY.register(
    "rollout-contrast",
    lambda model, image, text, **kw: rollout(model, image, text, target="contrast", **kw),
    paper="Chefer et al. 2021",
    passes=1,
    needs_classes=True,
)
