"""Built-in ``shards`` evaluator: zero-shot top-1 on labelled shards, sharded over ranks.

Classes are the distinct (modality, label) pairs of single-label samples (the first ``max_samples``
samples of the shards); each class is described by prompt templates that are *not* the training caption
sentences (default below), encoded with :func:`medclip.zeroshot_head.build_text_classifier`.
Returns ``{"shards/top1": ..., "shards/top1/<modality>": ...}`` identical on every rank.
"""

from __future__ import annotations

from itertools import islice

import torch
import torch.nn.functional as F

from ..data.decode import decode_image, image_member
from ..data.samples import MODALITY_ALIASES, read_meta
from ..data.tario import iter_tar_samples
from ..data.urls import expand_urls
from ..zeroshot_head import build_text_classifier
from .evaluator_registry import register_evaluator

MODALITY_WORDS = {
    "xray": "x-ray",
    "ct": "CT",
    "mri": "MRI",
    "ultrasound": "ultrasound",
    "pathology": "histopathology",
    "fundus": "fundus photograph",
    "other": "medical",
}
DEFAULT_TEMPLATES = [
    "{modality} showing {label}.",
    "a {modality} image with {label}.",
    "{label}, {modality}.",
]


def _prompts(modality: str, label: str, templates: list[str]) -> list[str]:
    word = MODALITY_WORDS.get(modality, modality)
    lab = f"no abnormality ({label})" if label == "normal" else label
    return [t.format(modality=word, label=lab) for t in templates]


def _view(img, size: int) -> torch.Tensor:
    w, h = img.size
    s = size / min(w, h)
    img = img.resize((max(size, round(w * s)), max(size, round(h * s))), 3)
    left, top = (img.width - size) // 2, (img.height - size) // 2
    img = img.crop((left, top, left + size, top + size))
    return torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).view(size, size, 3).permute(2, 0, 1)


@torch.no_grad()
def evaluate_shards(
    model,
    tokenizer,
    *,
    shards: str,
    device,
    rank: int = 0,
    world_size: int = 1,
    templates: list[str] | None = None,
    max_samples: int = 2000,
    batch_size: int = 128,
) -> dict:
    """Zero-shot accuracy over labelled shards (see module doc)."""
    items = []
    for s in islice((s for u in expand_urls(shards) for s in iter_tar_samples(u)), max_samples):
        meta = read_meta(s)
        labels = meta.get("labels") or []
        if len(labels) == 1 and image_member(s):
            mod = MODALITY_ALIASES.get(meta.get("modality", "other"), meta.get("modality", "other"))
            items.append((s, mod, str(labels[0])))
    classes = sorted({(m, lab) for _, m, lab in items})
    if not classes:
        raise ValueError(f"no single-label samples in {shards}")
    cls_idx = {c: i for i, c in enumerate(classes)}
    head = build_text_classifier(
        model,
        tokenizer,
        [_prompts(m, lab, templates or DEFAULT_TEMPLATES) for m, lab in classes],
        device=device,
    )
    size = model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    pcfg = getattr(model.visual, "preprocess_cfg", {}) or {}
    mean = torch.tensor(pcfg.get("mean", (0.48145466, 0.4578275, 0.40821073)), device=device).view(1, 3, 1, 1)
    std = torch.tensor(pcfg.get("std", (0.26862954, 0.26130258, 0.27577711)), device=device).view(1, 3, 1, 1)
    mods = sorted({m for _, m, _ in items})
    counts = torch.zeros(2, len(mods) + 1, dtype=torch.float64, device=device)  # [correct, total]
    mine = items[rank::world_size]
    for i in range(0, len(mine), batch_size):
        chunk = mine[i : i + batch_size]
        x = torch.stack(
            [
                _view(decode_image(s[image_member(s)], target_size=size, high_bit_depth="minmax"), size)
                for s, _, _ in chunk
            ]
        ).to(device)
        feats = F.normalize(model.encode_image((x.float() / 255 - mean) / std).float(), dim=-1)
        pred = (feats @ head.T).argmax(dim=1).cpu()
        for p, (_, m, lab) in zip(pred.tolist(), chunk):
            ok = float(p == cls_idx[(m, lab)])
            j = mods.index(m)
            counts[0, j] += ok
            counts[1, j] += 1
            counts[0, -1] += ok
            counts[1, -1] += 1
    if world_size > 1:
        torch.distributed.all_reduce(counts)
    out = {"shards/top1": float(counts[0, -1] / counts[1, -1]), "shards/classes": float(len(classes))}
    for j, m in enumerate(mods):
        out[f"shards/top1/{m}"] = float(counts[0, j] / counts[1, j])
    return out


@register_evaluator("shards")
def make_shard_evaluator(args: dict):
    """Factory for ``eval: {name: shards, args: {shards: <url>, templates: [...], max_samples: N}}``."""
    if "shards" not in args:
        raise ValueError("the shards evaluator needs eval.args.shards (a labelled shard folder or URL)")
    opts = {k: args[k] for k in ("templates", "max_samples", "batch_size") if k in args}

    def evaluate(model, tokenizer, *, device, rank, world_size, step, epoch):
        return evaluate_shards(
            model, tokenizer, shards=args["shards"], device=device, rank=rank, world_size=world_size, **opts
        )

    return evaluate
