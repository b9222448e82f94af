"""K-shot support sampling that reproduces Dassl's order (spec §8.3) and caches subsets as JSON.

Dassl: seed Python ``random``, NumPy and torch with SEED; group the train list by label in order of
first appearance; ``random.sample(items, K)`` per label in that order; then the same for val with
``min(K, 4)`` per label, continuing the same ``random`` stream. Classes with fewer than K items give all of
them (with a warning). Test always uses the full split.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed Python ``random``, NumPy and torch (Dassl ``set_random_seed``)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def sample_per_class(labels: Sequence[int], k: int) -> list[int]:
    """Indices of ``k`` items per label (first-appearance label order), drawn with Python ``random``."""
    groups: dict[int, list[int]] = {}
    for i, lab in enumerate(labels):
        groups.setdefault(int(lab), []).append(i)
    out: list[int] = []
    for lab, items in groups.items():
        if len(items) >= k:
            out.extend(random.sample(items, k))
        else:
            log.warning("class %d has %d items < K=%d; taking all of them", lab, len(items), k)
            out.extend(items)
    return out


def dassl_fewshot(train_labels: Sequence[int], val_labels: Sequence[int], k: int, seed: int) -> dict[str, list[int]]:
    """``{"train": idx, "val": idx}`` for K shots and one seed, bit-compatible with Dassl's sampling."""
    if k < 1:
        raise ValueError(f"K must be >= 1, got {k}")
    seed_everything(seed)
    train = sample_per_class(train_labels, k)
    val = sample_per_class(val_labels, min(k, 4))
    return {"train": train, "val": val}


def split_hash(
    train_keys: Sequence[str], train_labels: Sequence[int], val_keys: Sequence[str], val_labels: Sequence[int]
) -> str:
    """Content hash of the train/val lists a cached subset was drawn from."""
    blob = json.dumps(
        [list(map(str, train_keys)), list(map(int, train_labels)), list(map(str, val_keys)), list(map(int, val_labels))]
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class SubsetCache:
    """JSON cache of sampled subsets keyed ``shot_K-seed_S`` (item keys, plus the split hash).

    A cache whose split hash differs from the current data is rebuilt, never silently reused.
    """

    def __init__(self, path: str | Path | None, train_keys, train_labels, val_keys, val_labels) -> None:
        self.path = Path(path) if path else None
        self.train_keys, self.val_keys = list(train_keys), list(val_keys)
        self.train_labels, self.val_labels = list(map(int, train_labels)), list(map(int, val_labels))
        self.hash = split_hash(self.train_keys, self.train_labels, self.val_keys, self.val_labels)
        self.data = {"split_hash": self.hash, "subsets": {}}
        if self.path and self.path.is_file():
            old = json.loads(self.path.read_text())
            if old.get("split_hash") == self.hash:
                self.data = old
            else:
                log.warning("subset cache %s was drawn from other data; resampling", self.path)

    def get(self, k: int, seed: int) -> dict[str, list[int]]:
        """Indices of the K-shot subset for ``seed`` (sampled and cached on first use)."""
        key = f"shot_{k}-seed_{seed}"
        entry = self.data["subsets"].get(key)
        if entry is not None:
            pos_t = {kk: i for i, kk in enumerate(self.train_keys)}
            pos_v = {kk: i for i, kk in enumerate(self.val_keys)}
            return {"train": [pos_t[x] for x in entry["train"]], "val": [pos_v[x] for x in entry["val"]]}
        idx = dassl_fewshot(self.train_labels, self.val_labels, k, seed)
        self.data["subsets"][key] = {
            "train": [self.train_keys[i] for i in idx["train"]],
            "val": [self.val_keys[i] for i in idx["val"]],
        }
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.data, indent=1))
            tmp.replace(self.path)
        return idx
