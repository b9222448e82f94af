"""The ``npz`` dataset layout: MedMNIST-style arrays (``<split>_images``, ``<split>_labels``) in one file.

``path`` names the file relative to the suite's data root; ``{size}`` in it becomes the suite's
``npz_size`` in MedMNIST+'s file naming (``pathmnist.npz`` for 28, ``pathmnist_224.npz`` for 224). The
dataset's own split is ``test``; ``probe_train`` / ``probe_val`` name the ``train`` / ``val`` splits of the
same file. Labels ``(N, 1)`` are class indices (classes in suite order); ``(N, L)`` with a multi-label
dataset are 0/1 per label. An item source is ``("npz", file, split, index)``; workers load each split's
image array once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SPLITS = ("train", "val", "test")
_ARRAYS: dict[tuple[str, str], np.ndarray] = {}


def npz_file(root: Path, path: str, size: int) -> Path:
    """The file of a dataset: ``{size}`` in ``path`` -> ``""`` for 28, ``"_<size>"`` otherwise."""
    name = path.replace("{size}", "" if int(size) == 28 else f"_{int(size)}")
    p = Path(name).expanduser()
    return p if p.is_absolute() else root / p


def load_split(file: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)`` of one split; ValueError naming the missing keys."""
    with np.load(file) as z:
        keys = (f"{split}_images", f"{split}_labels")
        missing = [k for k in keys if k not in z.files]
        if missing:
            raise ValueError(f"{file}: missing arrays {missing} (has {sorted(z.files)})")
        return z[keys[0]], z[keys[1]]


def read_npz_image(source: tuple) -> Image.Image:
    """Decode one ``("npz", file, split, index)`` source to an RGB PIL image (the split array is cached)."""
    _, file, split, index = source
    key = (str(file), split)
    arr = _ARRAYS.get(key)
    if arr is None:
        with np.load(file) as z:
            arr = _ARRAYS[key] = z[f"{split}_images"]
    img = np.asarray(arr[int(index)])
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    return Image.fromarray(img).convert("RGB")


def labels_to_hits(labels: np.ndarray, n_classes: int, multilabel: bool) -> list[list[int]]:
    """Class indices of every item (``[]`` for out-of-range labels, reported as skipped)."""
    lab = np.asarray(labels)
    if multilabel:
        if lab.ndim != 2 or lab.shape[1] != n_classes:
            raise ValueError(f"multi-label npz labels must be (N, {n_classes}), got {lab.shape}")
        return [np.flatnonzero(row).tolist() or [] for row in lab]
    flat = lab.reshape(len(lab), -1)[:, 0].astype(np.int64)
    return [[int(v)] if 0 <= v < n_classes else [] for v in flat]
