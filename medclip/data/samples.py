"""Turning a raw shard sample into a training example: caption choice, label id, decoded view."""

from __future__ import annotations

import json

from .decode import decode_image, image_member
from .stream import seed_of, seeded_rng
from .transforms import AugConfig, train_view

MODALITY_ALIASES = {"us": "ultrasound", "histo": "pathology"}


def read_meta(sample: dict) -> dict:
    """The parsed ``.json`` member ({} when absent)."""
    raw = sample.get("json")
    if raw is None:
        return {}
    meta = json.loads(raw)
    if not isinstance(meta, dict):
        raise ValueError("json member is not an object")
    return meta


def captions_of(sample: dict, meta: dict, kinds: list[str] | None = None) -> list[str]:
    """All usable captions of a sample (json ``captions``, filtered by kind; else the ``.txt``)."""
    caps = meta.get("captions") or []
    if kinds:
        ck = meta.get("caption_kinds") or []
        caps = [c for c, k in zip(caps, ck) if k in kinds]
    caps = [c for c in caps if isinstance(c, str) and c.strip()]
    if not caps and "txt" in sample:
        txt = sample["txt"].decode("utf-8", "replace").strip()
        caps = [txt] if txt else []
    return caps


def label_id(meta: dict, key: str) -> int:
    """A 63-bit id equal for samples of the same (modality, label set); unique per key when unlabelled."""
    labels = meta.get("labels")
    if not labels:
        return seed_of("key", key) >> 1
    modality = MODALITY_ALIASES.get(meta.get("modality", ""), meta.get("modality", ""))
    return seed_of("labels", modality, tuple(sorted(str(x).lower() for x in labels))) >> 1


def make_example(
    sample: dict,
    *,
    seed: int,
    epoch: int,
    image_size: int,
    aug: AugConfig,
    policy: str,
    kinds: list[str] | None,
    draft: bool,
    high_bit_depth: str,
    gpu_decode: bool = False,
) -> dict:
    """Decode one raw sample into ``{image (uint8 3xHxW), text, label_id, key}``.

    The caption and the crop are drawn from an RNG seeded by (seed, epoch, key) — not by rank or worker —
    so the same sample gets the same caption and view in every process layout.
    Raises ValueError (or a PIL error) for unusable samples; the caller skips and counts them.
    """
    key = sample["__key__"]
    meta = read_meta(sample)
    rng = seeded_rng(seed, epoch, key)
    if policy == "primary" and "txt" in sample:
        caps = [sample["txt"].decode("utf-8", "replace").strip()]
    else:
        caps = captions_of(sample, meta, kinds)
    if not caps:
        raise ValueError(f"{key}: no caption")
    text = caps[rng.randrange(len(caps))]
    ext = image_member(sample)
    if ext is None:
        raise ValueError(f"{key}: no image member")
    if gpu_decode and ext in ("jpg", "jpeg"):  # decoded on the device (medclip/data/gpu_decode.py)
        from .gpu_decode import jpeg_view

        return {**jpeg_view(sample[ext], aug, rng), "image": None, "text": text, "label_id": label_id(meta, key),
                "key": key}  # fmt: skip
    img = decode_image(sample[ext], target_size=image_size, draft=draft, high_bit_depth=high_bit_depth)
    return {"image": train_view(img, image_size, aug, rng), "text": text, "label_id": label_id(meta, key), "key": key}
