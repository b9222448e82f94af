"""Write one planned chunk of samples into deterministic webdataset tar parts (runs in worker processes).

A chunk holds at most ``shards.max_samples`` items; it is written as one tar part, or several when
``shards.max_bytes`` would be exceeded. Tars are byte-reproducible: members sorted per sample, fixed mtime,
owner and mode (:class:`data_pipelines.tarwriter.TarWriter`, the same bytes as webdataset's
``TarWriter(mtime=0)`` without importing webdataset/torch), deterministic JPEG/PNG settings, sorted JSON keys.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .imageio import encode, pixel_sha256, resize_max_side, to_uint8
from .phash import near_excluded, phash_hex
from .sources.base import Item, Skip, SkipError
from .sources.pairs_text import pair_text_of
from .tarwriter import TarWriter

_BLOCK, _RECORD = 512, 20 * 512


@dataclass
class Caption:
    """Captions attached to one (modality, anatomy, labels) triple."""

    captions: list[str]
    kinds: list[str]
    backend: str
    bank_id: str
    labels: list[str]
    primary: int | None = None  # index of the .txt caption (None = chosen by key among all)


def item_caption(key: str, item: Item, label_cap: Caption | None) -> Caption:
    """The captions of one sample: its own text (pair sources) first, then the label captions, if any."""
    pt = pair_text_of(item)
    if pt is None:
        return label_cap
    primary = primary_caption_index(key, len(pt.captions))
    if label_cap is None:
        return Caption(list(pt.captions), list(pt.kinds), pt.backend, "", [], primary)
    return Caption(
        list(pt.captions) + list(label_cap.captions),
        list(pt.kinds) + list(label_cap.kinds),
        f"{pt.backend}+{label_cap.backend}",
        label_cap.bank_id,
        list(label_cap.labels),
        primary,
    )


@dataclass
class ChunkTask:
    """Everything a worker needs to write one chunk."""

    split: str
    index: int
    items: list[tuple[str, Item, str]]  # (sample key, item, caption triple id)
    tmp_dir: str
    apply_exclusion: bool
    plan_hash: str
    extra: dict = field(default_factory=dict)


def _member_bytes(n: int) -> int:
    return _BLOCK + -(-n // _BLOCK) * _BLOCK


def _archive_bytes(content: int) -> int:
    return -(-(content + 2 * _BLOCK) // _RECORD) * _RECORD


def primary_caption_index(key: str, n: int) -> int:
    """Deterministic choice of the ``.txt`` caption among ``n`` (varies across samples of one class)."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % n


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _Part:
    def __init__(self, path: Path):
        self.path = path
        self.stream = open(path, "wb")
        self.tar = TarWriter(self.stream, user="medclip", group="medclip", mode=0o444)
        self.content = 0
        self.count = 0
        self.modality: Counter = Counter()
        self.label: Counter = Counter()
        self.source: Counter = Counter()
        self.pair: Counter = Counter()
        self.samples: list[list[str]] = []  # [key, source, source_id, pixel sha256] (de-duplication)
        self.phash: dict[str, str] = {}  # key -> 64-bit perceptual hash, hex (near-duplicate control)

    def close(self) -> dict:
        sha = self.tar.close()
        self.stream.close()
        return {
            "tmp": self.path.name,
            "count": self.count,
            "bytes": self.tar.offset,
            "sha256": sha,
            "modality": dict(sorted(self.modality.items())),
            "label": dict(sorted(self.label.items())),
            "source": dict(sorted(self.source.items())),
            "modality_label": dict(sorted(self.pair.items())),
            "samples": self.samples,
            "phash": dict(sorted(self.phash.items())),
        }


def make_sample(
    key: str, item: Item, pixels: np.ndarray, pix_sha: str, cap: Caption, image_cfg, loaded, phash: str = ""
) -> dict:
    """Encode one sample as webdataset members (image, txt, json)."""
    keep = image_cfg.format == "original" and loaded.data is not None and loaded.ext in ("jpg", "png")
    keep = keep and loaded.extra.get("resized") is not True
    if keep:
        ext, data = loaded.ext, loaded.data
    else:
        ext = "png" if image_cfg.format in ("png", "original") else "jpg"
        data = encode(pixels, ext, quality=image_cfg.jpeg_quality)
    h, w = pixels.shape[:2]
    meta = {
        "key": key,
        "source": item.source,
        "source_id": item.source_id,
        "split": item.split,
        "modality": item.modality,
        "anatomy": item.anatomy,
        "labels": list(cap.labels),
        "captions": list(cap.captions),
        "caption_kinds": list(cap.kinds),
        "caption_backend": cap.backend,
        "caption_bank_id": cap.bank_id,
        "sha256": pix_sha,
        **({"phash": phash} if phash else {}),
        "width": int(w),
        "height": int(h),
        "channels": 1 if pixels.ndim == 2 else 3,
        "format": ext,
        "reencoded": not keep,
    }
    meta.update(loaded.extra.get("meta", {}))
    txt = cap.captions[cap.primary if cap.primary is not None else primary_caption_index(key, len(cap.captions))]
    return {
        "__key__": key,
        ext: data,
        "txt": txt.encode("utf-8"),
        "json": json.dumps(meta, sort_keys=True, ensure_ascii=False).encode("utf-8"),
    }


def write_chunk(task: ChunkTask, sources: dict, captions: dict, exclude: frozenset, cfg) -> dict:
    """Load, filter, encode and write the items of ``task``; return the chunk record (parts, skips)."""
    tmp = Path(task.tmp_dir)
    skips: list[dict] = []
    excluded = 0
    parts: list[dict] = []
    part: _Part | None = None
    for key, item, triple in task.items:
        try:
            loaded = sources[item.source].load(item)
            pixels = to_uint8(loaded.pixels)
            if pixels.size == 0 or min(pixels.shape[:2]) == 0:
                raise SkipError("zero_size", f"{pixels.shape[1]}x{pixels.shape[0]} image")
            if min(pixels.shape[:2]) < cfg.image.min_side:
                raise SkipError("too_small", f"{pixels.shape[1]}x{pixels.shape[0]} < {cfg.image.min_side}")
            pix_sha = pixel_sha256(pixels)
            if task.apply_exclusion and pix_sha in exclude:
                raise SkipError("excluded", "pixel sha256 on the exclusion list")
            ph = phash_hex(pixels)
            if task.apply_exclusion and near_excluded(exclude, ph):
                raise SkipError("excluded", "near-duplicate (perceptual hash) of an image on the exclusion list")
            small = resize_max_side(pixels, cfg.image.max_side)
            if small is not pixels:
                loaded.extra["resized"] = True
            cap = item_caption(key, item, captions.get(triple))
            sample = make_sample(key, item, small, pix_sha, cap, cfg.image, loaded, ph)
        except SkipError as e:
            excluded += e.reason == "excluded"
            skips.append(Skip(item.source, item.source_id, e.reason, e.detail).__dict__)
            continue
        except Exception as e:  # never crash a build on one input; never echo values (PHI)
            skips.append(Skip(item.source, item.source_id, "unreadable", type(e).__name__).__dict__)
            continue
        size = sum(_member_bytes(len(v)) for k, v in sample.items() if k != "__key__")
        if part is not None and part.count and _archive_bytes(part.content + size) > cfg.shards.max_bytes:
            parts.append(part.close())
            part = None
        if part is None:
            part = _Part(tmp / f"chunk-{task.index:06d}.p{len(parts):02d}.tar")
        part.tar.write(sample)
        part.samples.append([key, item.source, item.source_id, pix_sha])
        part.phash[key] = ph
        part.content += size
        part.count += 1
        part.modality[item.modality] += 1
        part.source[item.source] += 1
        for lab in cap.labels:
            part.label[lab] += 1
            part.pair[f"{item.modality}/{lab}"] += 1
    if part is not None:
        parts.append(part.close())
    return {
        "chunk": task.index,
        "plan": task.plan_hash,
        "items": len(task.items),
        "parts": parts,
        "skips": skips,
        "excluded": excluded,
    }
