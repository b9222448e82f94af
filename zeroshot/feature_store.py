"""On-disk image-feature cache for repeated analyses of one model on one data set (``--feature-cache DIR``).

Key: the sha256 of the model's weights and evaluation transform, and the sha256 of each image's stored
bytes (the file, the tar member or the npz row). One ``<model key>.npz`` per model holds ``keys`` and
``features``; a later run (``--compare`` against a report, calibration, prompt sensitivity, another prompt
set) reads the features of images it has seen instead of decoding and encoding them again. Images under
an ``array_transform`` (robustness corruptions) are never cached.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch


def weights_key(model: torch.nn.Module, preprocess=None) -> str:
    """sha256 over every parameter / buffer (name, dtype, shape, bytes) and the transform's repr."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(str(t.dtype).encode() + str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    h.update(repr(preprocess).encode())
    return h.hexdigest()


def source_sha256(source) -> str:
    """sha256 of one item's stored image bytes (path, ``(tar, offset, size)`` or ``("npz", file, split, i)``)."""
    if isinstance(source, (tuple, list)) and len(source) == 4 and source[0] == "npz":
        from .npz_layout import _ARRAYS, read_npz_image

        read_npz_image(source)
        return hashlib.sha256(np.ascontiguousarray(_ARRAYS[(str(source[1]), source[2])][int(source[3])])).hexdigest()
    if isinstance(source, (tuple, list)):
        tar, offset, size = source
        with open(tar, "rb") as f:
            f.seek(offset)
            return hashlib.sha256(f.read(size)).hexdigest()
    return hashlib.sha256(Path(source).read_bytes()).hexdigest()


class FeatureStore:
    """Features of one model, keyed by image sha256, loaded from and saved to ``<root>/<model key>.npz``."""

    def __init__(self, root: str | Path, model: torch.nn.Module, preprocess=None) -> None:
        self.root = Path(root).expanduser()
        self.key = weights_key(model, preprocess)
        self.path = self.root / f"{self.key[:32]}.npz"
        self.rows: dict[str, np.ndarray] = {}
        self.hits = self.misses = 0
        self.dirty = False
        if self.path.is_file():
            with np.load(self.path) as z:
                if str(z["model_key"]) == self.key:
                    self.rows = dict(zip(z["keys"].tolist(), z["features"]))

    def get(self, sha: str) -> np.ndarray | None:
        """The cached feature row of an image, or None."""
        row = self.rows.get(sha)
        if row is None:
            self.misses += 1
        else:
            self.hits += 1
        return row

    def put(self, sha: str, feature: np.ndarray) -> None:
        """Remember a feature row (saved by :meth:`save`)."""
        self.rows[sha] = np.asarray(feature, dtype=np.float32)
        self.dirty = True

    def save(self) -> Path | None:
        """Write the store atomically when something was added; returns the path."""
        if not self.dirty:
            return None
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp.npz")
        keys = sorted(self.rows)
        np.savez(tmp, model_key=self.key, keys=np.asarray(keys), features=np.stack([self.rows[k] for k in keys]))
        tmp.replace(self.path)
        self.dirty = False
        return self.path
