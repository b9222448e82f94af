"""Tiny on-disk data for the zeroshot tests (imported by the other test_zeroshot_* modules).

Shards follow the shared contract (DESIGN §3): ``<key>.png`` + ``<key>.txt`` + ``<key>.json``.
"""

from __future__ import annotations

import csv
import io
import json
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

COLORS = {"red": (200, 40, 40), "green": (40, 180, 60), "blue": (40, 60, 200)}


def color_image(name: str, rng: np.random.Generator, size: int = 32) -> Image.Image:
    base = np.array(COLORS[name], dtype=np.float64)
    arr = np.clip(base + rng.normal(0, 12, size=(size, size, 3)), 0, 255).astype(np.uint8)
    return Image.fromarray(arr)


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def write_shards(folder: Path, samples: list[tuple[str, str, str]], *, per_shard: int = 5, seed: int = 0) -> Path:
    """``samples`` = (modality, label, caption) per image; images are coloured squares keyed by label."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    palette = list(COLORS)
    for s in range(0, len(samples), per_shard):
        with tarfile.open(folder / f"test-{s // per_shard:06d}.tar", "w") as tf:
            for i, (mod, label, cap) in enumerate(samples[s : s + per_shard], start=s):
                key = f"fixture-{i:09d}"
                buf = io.BytesIO()
                color_image(palette[hash(label) % 3 if label not in COLORS else palette.index(label)], rng).save(
                    buf, format="PNG"
                )
                meta = {
                    "captions": [cap, cap + " again"],
                    "caption_kinds": ["knowledge", "knowledge"],
                    "labels": [label],
                    "modality": mod,
                    "anatomy": "x",
                    "source": "fixture",
                    "split": "test",
                }
                _add(tf, f"{key}.png", buf.getvalue())
                _add(tf, f"{key}.txt", cap.encode())
                _add(tf, f"{key}.json", json.dumps(meta).encode())
    return folder


def write_imagefolder(folder: Path, classes: dict[str, int], seed: int = 0) -> Path:
    """``classes`` = {folder name: number of images}; images coloured by class order (red, green, blue)."""
    rng = np.random.default_rng(seed)
    for ci, (name, n) in enumerate(classes.items()):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for j in range(n):
            color_image(list(COLORS)[ci % 3], rng).save(folder / name / f"img{j:03d}.png")
    return folder


def write_csv_dataset(
    folder: Path,
    rows: list[tuple[str, str]],
    *,
    file: str = "labels.csv",
    columns=("image", "label"),
    seed: int = 0,
) -> Path:
    """``rows`` = (colour, label value); images under ``folder/images``."""
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    with open(folder / file, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for j, (colour, label) in enumerate(rows):
            rel = f"images/{j:04d}.png"
            color_image(colour, rng).save(folder / rel)
            w.writerow([rel, label])
    return folder
