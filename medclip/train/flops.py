"""Analytic FLOPs per sample of the configured towers, peak FLOP/s of common GPUs, achieved TFLOP/s and MFU.

Counting convention (the one of the PaLM / Megatron MFU papers, and of ``torch.utils.flop_counter``): a
multiply-add is 2 FLOPs and only matrix products are counted -- the patch convolution, the q/k/v/output
projections, the MLP, the attention scores ``Q K^T`` and the weighted sum ``A V`` (full ``n x n`` even with a
causal or padding mask, as the kernels compute it) and the projection heads. Layer norms, softmax, GELU,
residual adds, embeddings lookups and the loss's logit matrix are not counted (together well under 1% of a
ViT-B/16's matmul FLOPs at 224 px). One transformer block over ``n`` tokens of width ``d`` with MLP width ``h``:

    2 n (4 d^2) + 2 n (2 d h) + 4 n^2 d

Training counts **3 x forward** (the backward pass is two matmuls per forward matmul: gradient of the input
and of the weight). Gradient checkpointing recomputes the forward (4 x in hardware) but MFU counts *model*
FLOPs, so it stays 3 x: recomputation lowers MFU, as it should. A fully locked tower counts its forward only;
a text tower replaced by cached features (``model.lock_text``) counts nothing but a trainable projection.

MFU = achieved model FLOP/s per device / peak dense FLOP/s of the device in the run's precision (bf16 autocast
-> the bf16 tensor-core peak; fp32 -> the TF32 peak when ``torch.backends.cuda.matmul.allow_tf32`` is on, else
the plain fp32 peak). ``peak_flops`` in the train config (FLOP/s per device) overrides the table; on a CPU
without it MFU is not reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

# Dense (no 2:4 sparsity) peak FLOP/s per device from the vendors' data sheets, in TFLOP/s:
# (name regex matched against torch.cuda.get_device_name(), label, {precision: TFLOP/s}); first match wins.
# A10G (AWS) is not published by NVIDIA: the figure is the commonly quoted dense tensor-core rate.
PEAK_TFLOPS: list[tuple[str, str, dict[str, float]]] = [
    (r"H200", "H200", {"bf16": 989.4, "fp16": 989.4, "tf32": 494.7, "fp32": 66.9}),
    (r"GH200", "GH200", {"bf16": 989.4, "fp16": 989.4, "tf32": 494.7, "fp32": 66.9}),
    (r"H100.*NVL", "H100 NVL", {"bf16": 835.5, "fp16": 835.5, "tf32": 417.5, "fp32": 60.0}),
    (r"H100.*PCIe", "H100 PCIe", {"bf16": 756.5, "fp16": 756.5, "tf32": 378.0, "fp32": 51.2}),
    (r"H100", "H100 SXM", {"bf16": 989.4, "fp16": 989.4, "tf32": 494.7, "fp32": 66.9}),
    (r"A100", "A100", {"bf16": 312.0, "fp16": 312.0, "tf32": 156.0, "fp32": 19.5}),
    (r"L40S", "L40S", {"bf16": 362.1, "fp16": 362.1, "tf32": 183.0, "fp32": 91.6}),
    (r"L40", "L40", {"bf16": 181.0, "fp16": 181.0, "tf32": 90.5, "fp32": 90.5}),
    (r"L4\b", "L4", {"bf16": 121.0, "fp16": 121.0, "tf32": 60.0, "fp32": 30.3}),
    (r"A10G", "A10G", {"bf16": 70.0, "fp16": 70.0, "tf32": 35.0, "fp32": 31.2}),
    (r"A10\b", "A10", {"bf16": 125.0, "fp16": 125.0, "tf32": 62.5, "fp32": 31.2}),
    (r"RTX 4090", "RTX 4090", {"bf16": 165.2, "fp16": 165.2, "tf32": 82.6, "fp32": 82.6}),
    (r"RTX 3090", "RTX 3090", {"bf16": 71.0, "fp16": 71.0, "tf32": 35.6, "fp32": 35.6}),
    (r"RTX A6000", "RTX A6000", {"bf16": 154.8, "fp16": 154.8, "tf32": 77.4, "fp32": 38.7}),
    (r"V100", "V100", {"fp16": 125.0, "fp32": 15.7}),  # no bf16 / tf32 tensor cores: bf16 runs at fp32 rate
    (r"T4\b", "T4", {"fp16": 65.0, "fp32": 8.1}),
    (r"MI300X", "MI300X", {"bf16": 1307.4, "fp16": 1307.4, "tf32": 653.7, "fp32": 163.4}),
]


def peak_flops(device_name: str, precision: str) -> float | None:
    """Dense peak FLOP/s of a device for a precision (``bf16``, ``fp16``, ``tf32``, ``fp32``), None if unknown.

    A device without a rate for ``precision`` falls back to its fp32 rate (V100 / T4 run bf16 and tf32 on
    the fp32 units).
    """
    for pattern, _, rates in PEAK_TFLOPS:
        if re.search(pattern, device_name):
            tf = rates.get(precision, rates.get("fp32"))
            return None if tf is None else tf * 1e12
    return None


@dataclass
class TowerShape:
    """What the FLOP formula needs of a transformer tower (counts per sample)."""

    layers: int
    width: int
    mlp_hidden: int
    tokens: int
    stem_flops: int = 0  # patch embedding (vision) per sample
    head_flops: int = 0  # pooled projection head per sample

    def forward_flops(self) -> int:
        n, d, h = self.tokens, self.width, self.mlp_hidden
        block = 2 * n * 4 * d * d + 2 * n * 2 * d * h + 4 * n * n * d
        return self.layers * block + self.stem_flops + self.head_flops


def _head_flops(module) -> int:
    """2 x in x out over the Linear layers of a projection head applied to one pooled vector."""
    if module is None:
        return 0
    if isinstance(module, torch.nn.Parameter | torch.Tensor):
        return 2 * module.shape[0] * module.shape[1] if module.ndim == 2 else 0
    if isinstance(module, torch.nn.Linear):
        return 2 * module.in_features * module.out_features
    return sum(2 * m.in_features * m.out_features for m in module.modules() if isinstance(m, torch.nn.Linear))


def _conv_flops(conv: torch.nn.Conv2d, n_patches: int) -> int:
    k = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1] // conv.groups
    return 2 * n_patches * k * conv.out_channels


def vision_shape(visual) -> TowerShape:
    """Shape of an open_clip ``VisionTransformer`` or a timm ViT inside ``TimmModel``."""
    if hasattr(visual, "trunk"):  # open_clip TimmModel
        t = visual.trunk
        if not hasattr(t, "blocks") or not hasattr(t, "patch_embed"):
            raise ValueError(f"no analytic FLOP count for timm trunk {type(t).__name__} (ViTs only)")
        n_patches = t.patch_embed.num_patches
        tokens = n_patches + getattr(t, "num_prefix_tokens", 1)
        mlp = t.blocks[0].mlp.fc1.out_features
        head = _head_flops(getattr(visual, "head", None)) + _head_flops(getattr(t, "head", None))
        return TowerShape(len(t.blocks), t.embed_dim, mlp, tokens, _conv_flops(t.patch_embed.proj, n_patches), head)
    if hasattr(visual, "conv1") and hasattr(visual, "transformer"):  # open_clip VisionTransformer
        tokens = visual.positional_embedding.shape[0]
        gh, gw = visual.grid_size
        n_patches = gh * gw
        blocks = visual.transformer.resblocks
        mlp = blocks[0].mlp.c_fc.out_features
        if getattr(visual, "attn_pool", None) is not None:
            raise ValueError("no analytic FLOP count for attentional pooling towers")
        return TowerShape(
            len(blocks),
            visual.transformer.width,
            mlp,
            tokens,
            _conv_flops(visual.conv1, n_patches),
            _head_flops(getattr(visual, "proj", None)),
        )
    raise ValueError(f"no analytic FLOP count for image tower {type(visual).__name__}")


def text_shape(model, tokens: int | None = None) -> TowerShape:
    """Shape of the text tower: open_clip ``TextTransformer`` (CLIP or CustomTextCLIP) or ``HFTextEncoder``.

    ``tokens`` is the padded caption length the tokenizer produces; an HF tower's ``context_length`` is its
    ``max_position_embeddings``, which is longer than what the tokenizer pads to, so pass it for HF towers.
    """
    text = getattr(model, "text", model)
    if hasattr(text, "transformer") and hasattr(text.transformer, "config"):  # HFTextEncoder (BERT-like)
        c = text.transformer.config
        pool = getattr(text.transformer, "pooler", None)
        head = _head_flops(getattr(text, "proj", None)) + _head_flops(pool)
        n = tokens or text.context_length
        return TowerShape(c.num_hidden_layers, c.hidden_size, c.intermediate_size, n, 0, head)
    if hasattr(text, "transformer") and hasattr(text.transformer, "resblocks"):  # open_clip TextTransformer
        blocks = text.transformer.resblocks
        tokens = (tokens or text.context_length) + (1 if getattr(text, "cls_emb", None) is not None else 0)
        head = _head_flops(getattr(text, "text_projection", None))
        return TowerShape(len(blocks), text.transformer.width, blocks[0].mlp.c_fc.out_features, tokens, 0, head)
    raise ValueError(f"no analytic FLOP count for text tower {type(text).__name__}")


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The open_clip model inside DDP / torch.compile / ``ContrastiveModule`` wrappers."""
    for _ in range(8):
        inner = getattr(model, "_orig_mod", None) or getattr(model, "module", None)
        if inner is None and hasattr(model, "model") and hasattr(model.model, "visual"):
            inner = model.model
        if inner is None:
            return model
        model = inner
    return model


def _trains(module) -> bool:
    return any(p.requires_grad for p in module.parameters())


def flops_per_sample(
    model: torch.nn.Module, *, lock_text: bool = False, text_tokens: int | None = None
) -> dict[str, int]:
    """Analytic forward and training FLOPs per (image, caption) pair.

    Args:
        model: an open_clip CLIP / CustomTextCLIP (wrappers are unwrapped).
        lock_text: the text tower is replaced by cached features (only a trainable projection runs).
        text_tokens: padded caption length (the tokenizer's context length; default: the tower's).

    Returns:
        ``image_forward``, ``text_forward``, ``forward`` and ``train`` FLOPs (3 x forward for a tower that
        trains, 1 x for a frozen one).

    Raises:
        ValueError: a tower this module has no formula for.
    """
    model = unwrap(model)
    vis = vision_shape(model.visual)
    txt = text_shape(model, text_tokens)
    img_f = vis.forward_flops()
    if lock_text:
        txt_f = 0
        text_train = 0
    else:
        txt_f = txt.forward_flops()
        text_mod = getattr(model, "text", None) or model.transformer
        text_train = 3 * txt_f if _trains(text_mod) else txt_f
    img_train = 3 * img_f if _trains(model.visual) else img_f
    return {
        "image_forward": img_f,
        "text_forward": txt_f,
        "forward": img_f + txt_f,
        "train": img_train + text_train,
    }


def device_precision(cfg, device: torch.device | None = None) -> str:
    """The precision whose peak applies: bf16 (autocast), tf32 (fp32 with TF32 matmuls on CUDA) or fp32."""
    if getattr(cfg, "precision", "fp32") == "bf16":
        return "bf16"
    if device is not None and device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32:
        return "tf32"
    return "fp32"


_CACHE: dict[int, dict[str, int]] = {}


def tokenizer_length(name: str) -> int | None:
    """The context length the tokenizer of model ``name`` pads captions to (its config's ``text_cfg``)."""
    try:
        import open_clip

        from ..models.registry import _MEDCLIP_MODELS

        cfg = _MEDCLIP_MODELS.get(name) or open_clip.get_model_config(name) or {}
    except Exception:  # hf-hub: / local-dir: names, or no config: fall back to the tower's own length
        return None
    return (cfg.get("text_cfg") or {}).get("context_length")


def tflops_and_mfu(samples_per_s: float, model: torch.nn.Module, cfg) -> dict:
    """Throughput fields for one logging interval.

    Args:
        samples_per_s: the **global** training rate (all ranks together), samples per second.
        model: the trained model (DDP / compiled / ContrastiveModule wrappers are fine).
        cfg: the :class:`~medclip.train.config.TrainConfig` (``precision``, ``peak_flops``,
            ``model.lock_text``, ``device``).

    Returns:
        ``samples_per_s_per_device``, ``train_flops_per_sample``, ``tflops_per_device`` (achieved model
        TFLOP/s per device) and, when the peak is known (GPU table or ``cfg.peak_flops``), ``peak_tflops``
        and ``mfu`` (a fraction). An empty dict for a tower without a formula.
    """
    import torch.distributed as dist

    world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    key = id(model)
    if key not in _CACHE:
        try:
            _CACHE[key] = flops_per_sample(
                model,
                lock_text=bool(getattr(cfg.model, "lock_text", False)),
                text_tokens=tokenizer_length(cfg.model.name),
            )
        except ValueError:
            _CACHE[key] = {}
    f = _CACHE[key]
    if not f:
        return {}
    per_dev = samples_per_s / world
    achieved = per_dev * f["train"]
    out = {
        "samples_per_s_per_device": per_dev,
        "train_flops_per_sample": float(f["train"]),
        "tflops_per_device": achieved / 1e12,
    }
    peak = getattr(cfg, "peak_flops", None)
    if not peak:
        p = next(unwrap(model).parameters())
        if p.device.type == "cuda":
            peak = peak_flops(torch.cuda.get_device_name(p.device), device_precision(cfg, p.device))
    if peak:
        out["peak_tflops"] = float(peak) / 1e12
        out["mfu"] = achieved / float(peak)
    return out


__all__ = [
    "PEAK_TFLOPS",
    "TowerShape",
    "device_precision",
    "flops_per_sample",
    "peak_flops",
    "text_shape",
    "tflops_and_mfu",
    "unwrap",
    "vision_shape",
]
