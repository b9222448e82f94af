"""Per-module operations of the dual / delta engines (spec section 5).

Each supported op is *linear in its parameters* for a fixed input (Linear, Conv2d, LayerNorm affine,
Embedding, LayerScale, the fused attention projections), so ``op(h; theta_i)`` is the lambda-mix of the op
evaluated with each endpoint's parameters (dual) or ``op(h; theta_e) + lambda * op(h; delta)`` (delta).
The tower functions re-trace open_clip / timm forwards where parameters enter directly (class and
positional tokens, ``proj``); everything parameter-free runs once on the single mixed stream.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from open_clip import transformer as oc_tf
from timm.layers import LayerNorm as TimmLayerNorm
from timm.layers import LayerScale as TimmLayerScale
from torch import nn


class LowRank(NamedTuple):
    """A low-rank weight ``b @ a`` (``a``: (r, in), ``b``: (out, r)), e.g. a LoRA delta."""

    a: torch.Tensor
    b: torch.Tensor

    def rows(self, sl: slice) -> LowRank:
        """The low-rank factors of ``(b @ a)[sl]``."""
        return LowRank(self.a, self.b[sl])


LAYERNORMS = (nn.LayerNorm, oc_tf.LayerNorm, oc_tf.LayerNormFp32, TimmLayerNorm)
LAYERSCALES = (oc_tf.LayerScale, TimmLayerScale)
# Leaf modules handled by overriding their forward: type -> parameter names that may differ.
LEAF_PARAMS: dict[type, tuple[str, ...]] = {
    nn.Linear: ("weight", "bias"),
    nn.Conv2d: ("weight", "bias"),
    nn.Embedding: ("weight",),
    nn.MultiheadAttention: ("in_proj_weight", "in_proj_bias"),
    **{t: ("weight", "bias") for t in LAYERNORMS},
    **{t: ("gamma",) for t in LAYERSCALES},
}


def linear(x: torch.Tensor, w, b) -> torch.Tensor:
    """``F.linear`` where ``w`` may be a :class:`LowRank` or None (zero weight)."""
    if isinstance(w, LowRank):
        y = F.linear(F.linear(x, w.a), w.b)
        return y if b is None else y + b
    if w is None:
        return b.expand(*x.shape[:-1], b.shape[0])
    return F.linear(x, w, b)


def dense(w, like: torch.Tensor) -> torch.Tensor:
    """Materialize an optional / low-rank weight as a dense tensor shaped like ``like``."""
    if w is None:
        return torch.zeros_like(like)
    if isinstance(w, LowRank):
        return (w.b @ w.a).view_as(like)
    return w


def leaf_other(m: nn.Module, x: torch.Tensor, p: dict, delta: bool) -> torch.Tensor:
    """The op of leaf ``m`` on input ``x`` with the other side's parameters ``p`` (base or delta)."""
    if isinstance(m, nn.Linear):
        return linear(x, p["weight"], p.get("bias"))
    if isinstance(m, nn.Conv2d):
        return F.conv2d(x, dense(p["weight"], m.weight), p.get("bias"), m.stride, m.padding, m.dilation, m.groups)
    if isinstance(m, nn.Embedding):
        return F.embedding(x, dense(p["weight"], m.weight), m.padding_idx)
    if isinstance(m, LAYERNORMS):
        if not delta:
            return F.layer_norm(x, m.normalized_shape, p["weight"], p["bias"], m.eps)
        n = F.layer_norm(x, m.normalized_shape, None, None, m.eps)
        y = n * p["weight"] if p["weight"] is not None else torch.zeros_like(n)
        return y + p["bias"] if p.get("bias") is not None else y
    if isinstance(m, LAYERSCALES):
        return x * dense(p["gamma"], m.gamma)
    raise TypeError(f"no dual op for {type(m).__name__}")


def mha_forward(eng, m: nn.MultiheadAttention, query, key, value, key_padding_mask=None, need_weights=False,
                attn_mask=None, average_attn_weights=True, is_causal=False):  # fmt: skip
    """``nn.MultiheadAttention.forward`` decomposed: dual in/out projections around plain SDPA."""
    if not m.batch_first:
        raise RuntimeError("dual engine: nn.MultiheadAttention must be batch_first")
    if key_padding_mask is not None or is_causal:
        raise RuntimeError("dual engine: key_padding_mask / is_causal are not supported in MultiheadAttention")
    eng.touch(m)
    n, lq, d = query.shape
    h = m.num_heads
    w_e, b_e = m.in_proj_weight, m.in_proj_bias
    w_o, b_o = eng.other_param(m, "in_proj_weight"), eng.other_param(m, "in_proj_bias")

    def proj(x, sl):
        if not eng.differs(m, "in_proj_weight", "in_proj_bias"):
            return F.linear(x, w_e[sl], None if b_e is None else b_e[sl])
        wo = w_o.rows(sl) if isinstance(w_o, LowRank) else (None if w_o is None else w_o[sl])
        bo = None if b_o is None else b_o[sl]
        return eng.mix(F.linear(x, w_e[sl], None if b_e is None else b_e[sl]), linear(x, wo, bo))

    if query is key and key is value:
        q, k, v = proj(query, slice(0, 3 * d)).chunk(3, dim=-1)
    else:
        q, k, v = proj(query, slice(0, d)), proj(key, slice(d, 2 * d)), proj(value, slice(2 * d, 3 * d))

    def heads(t):
        return t.reshape(t.shape[0], t.shape[1], h, d // h).transpose(1, 2)

    mask = attn_mask
    if mask is not None:
        if mask.dtype == torch.bool:
            mask = torch.zeros(mask.shape, dtype=q.dtype, device=q.device).masked_fill(mask, float("-inf"))
        if mask.dim() == 3:
            mask = mask.view(-1, h, mask.shape[-2], mask.shape[-1])
    out = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), attn_mask=mask)
    out = out.transpose(1, 2).reshape(n, lq, d)
    op = m.out_proj
    eng.touch(op)
    y = F.linear(out, op.weight, op.bias)
    if eng.differs(op, "weight", "bias"):
        y = eng.mix(y, linear(out, eng.other_param(op, "weight"), eng.other_param(op, "bias")))
    return y, None


def openclip_vit(eng, v: oc_tf.VisionTransformer, x: torch.Tensor) -> torch.Tensor:
    """open_clip ``VisionTransformer.forward`` with per-sample class / positional tokens and ``proj``."""
    x = v.conv1(x)
    x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
    n = x.shape[0]
    cls = eng.param(v, "class_embedding")
    cls = cls.view(-1, 1, cls.shape[-1]).expand(n, -1, -1)
    x = torch.cat([cls.to(x.dtype), x], dim=1)
    x = x + eng.param(v, "positional_embedding").to(x.dtype)
    x = v.patch_dropout(x)
    x = v.ln_pre(x)
    x = v.transformer(x)
    pooled, _ = v._pool(x)
    if v.proj is not None:
        pooled = eng.matmul(v, "proj", pooled)
    return pooled


def timm_pos_embed(eng, t, x: torch.Tensor) -> torch.Tensor:
    """timm ``VisionTransformer._pos_embed`` with per-sample class / register tokens and positions."""
    n = x.shape[0]
    to_cat = []
    for name in ("cls_token", "reg_token"):
        if getattr(t, name, None) is not None:
            to_cat.append(eng.param(t, name).expand(n, -1, -1))
    x = x.view(n, -1, x.shape[-1])
    if t.pos_embed is None:
        return torch.cat(to_cat + [x], dim=1)
    pos = eng.param(t, "pos_embed")
    if t.no_embed_class:
        x = torch.cat(to_cat + [x + pos], dim=1)
    else:
        x = torch.cat(to_cat + [x], dim=1) + pos
    return t.pos_drop(x)


def clip_text(eng, model, text: torch.Tensor) -> torch.Tensor:
    """open_clip ``CLIP.encode_text`` (unnormalized) with per-sample positions and text projection."""
    x = model.token_embedding(text)
    x = x + eng.param(model, "positional_embedding").to(x.dtype)
    x = model.transformer(x, attn_mask=model.attn_mask)
    x = model.ln_final(x)
    x = oc_tf.text_global_pool(x, text, model.text_pool_type, eos_token_id=getattr(model, "text_eos_id", None))
    proj = model.text_projection
    if isinstance(proj, nn.Linear):
        return proj(x)
    if proj is not None:
        return eng.matmul(model, "text_projection", x)
    return x
