"""Tiny synthetic shards in the medclip format (DESIGN §3), for tests of any area.

``write_shards(folder, n=..., shards=...)`` writes ``<prefix>-NNNNNN.tar`` files with one sample per image
(``.jpg``/``.png`` + ``.txt`` + ``.json`` with ``captions``, ``caption_kinds``, ``labels``, ``modality`` ...),
``sizes.json`` and ``manifest.json``. Images are class-dependent patterns (a bright disc whose position and
colour encode the class, plus noise), so a tiny model can learn them. Options inject the bad cases the
trainer must handle: corrupt image bytes, missing captions, dotted keys, 16-bit PNGs.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = [
    ("xray", "chest", "normal"),
    ("xray", "chest", "pneumonia"),
    ("ct", "abdomen", "kidney stone"),
    ("mri", "brain", "brain tumor"),
    ("fundus", "retina", "glaucoma"),
    ("pathology", "colon", "normal"),
]
PHRASES = {
    "xray": "chest x-ray",
    "ct": "abdominal CT",
    "mri": "brain MRI",
    "fundus": "fundus photograph",
    "pathology": "colon histology",
}


def class_image(c: int, rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """A uint8 HxWx3 image whose content depends on class ``c``."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    cx, cy = 0.25 + 0.5 * ((c * 37) % 7) / 6, 0.25 + 0.5 * ((c * 11) % 5) / 4
    disc = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 0.02)
    colour = np.array([(c * 70) % 256, (c * 130 + 60) % 256, (c * 200 + 120) % 256]) / 255.0
    img = 0.15 + 0.8 * disc[..., None] * colour + rng.normal(0, 0.05, (size, size, 3))
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def write_shards(
    folder: str | Path,
    *,
    n: int = 32,
    shards: int = 2,
    size: int = 64,
    prefix: str = "train",
    source: str = "synth",
    seed: int = 0,
    classes: list[tuple[str, str, str]] | None = None,
    corrupt: tuple[int, ...] = (),
    no_caption: tuple[int, ...] = (),
    dotted: bool = False,
    png16: bool = False,
    image_format: str = "jpg",
    captions_per_sample: int = 3,
    write_sizes: bool = True,
) -> Path:
    """Write ``n`` samples over ``shards`` tar files into ``folder``; returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    classes = classes or CLASSES
    rng = np.random.default_rng(seed)
    per = -(-n // shards)
    sizes, counts = {}, {}
    for s in range(shards):
        name = f"{prefix}-{s:06d}.tar"
        idx = range(s * per, min(n, (s + 1) * per))
        with tarfile.open(folder / name, "w", format=tarfile.USTAR_FORMAT) as tar:
            for i in idx:
                c = i % len(classes)
                mod, anat, label = classes[c]
                key = f"1.2.840.{i}" if dotted else f"{source}-{i:09d}"
                arr = class_image(c, rng, size)
                if png16:
                    g = arr.mean(axis=2).astype(np.uint16) * 200
                    buf = io.BytesIO()
                    Image.fromarray(g).save(buf, format="PNG")
                    ext, data = "png", buf.getvalue()
                else:
                    buf = io.BytesIO()
                    Image.fromarray(arr).save(buf, format="JPEG" if image_format == "jpg" else "PNG", quality=95)
                    ext, data = image_format, buf.getvalue()
                if i in corrupt:
                    data = b"\xff\xd8\xff\xe0 this is not an image" + data[:20]
                caps = [f"{PHRASES.get(mod, mod)} showing {label}, view {k}." for k in range(captions_per_sample)]
                meta = {
                    "key": key,
                    "captions": [] if i in no_caption else caps,
                    "caption_kinds": [] if i in no_caption else ["llm_template"] * len(caps),
                    "labels": [label],
                    "modality": mod,
                    "anatomy": anat,
                    "source": source,
                    "source_id": str(i),
                    "split": prefix,
                    "sha256": hashlib.sha256(arr.tobytes()).hexdigest(),
                    "width": size,
                    "height": size,
                    "caption_backend": "synthetic",
                }
                _add(tar, f"{key}.{ext}", data)
                if i not in no_caption:
                    _add(tar, f"{key}.txt", caps[0].encode())
                _add(tar, f"{key}.json", json.dumps(meta).encode())
                counts[label] = counts.get(label, 0) + 1
        sizes[name] = len(idx)
    if write_sizes:
        (folder / "sizes.json").write_text(json.dumps(sizes, indent=1))
    (folder / "manifest.json").write_text(json.dumps({"shards": sizes, "labels": counts, "seed": seed}, indent=1))
    return folder
