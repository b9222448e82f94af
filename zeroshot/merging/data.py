"""Per-modality views of a suite dataset, loaded into memory as preprocessed (optionally corrupted) tensors.

A view keeps the samples of one modality and the classes of that modality (``ClassSpec.modality``), so a
mixed 17-class demo split becomes, e.g., a 4-class X-ray dataset: the merging protocol's "dataset D".
Order is the dataset order (sorted shard keys); nothing is ever shuffled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from ..data import Items, read_image, resolve_items
from ..robustness import MODALITY_ONLY, corrupt
from ..suites import DatasetSpec, SuiteSpec, class_prompts


@dataclass
class View:
    """One modality of a dataset split."""

    name: str
    modality: str
    items: Items  # labels remapped to 0..C-1
    classnames: list[str]
    prompts: list[list[str]]


def modality_view(suite: SuiteSpec, ds: DatasetSpec, modality: str, *, path: str | None = None,
                  max_samples: int | None = None, seed: int = 0) -> View:  # fmt: skip
    """The samples and classes of ``modality`` in ``ds`` (split folder ``path``, default ``ds.path``).

    ``max_samples`` keeps a seeded random subset, in dataset order.
    """
    if ds.multilabel:
        raise ValueError(f"dataset {ds.name!r} is multi-label; the merging protocol needs single-label data")
    cls = [i for i, c in enumerate(ds.classes) if (c.modality or ds.modality) == modality]
    if len(cls) < 2:
        raise ValueError(f"dataset {ds.name!r} has {len(cls)} class(es) of modality {modality!r}; need >= 2")
    items = resolve_items(suite, ds, path)
    remap = {c: j for j, c in enumerate(cls)}
    keep = [i for i, (m, y) in enumerate(zip(items.modalities, items.labels)) if m == modality and int(y) in remap]
    if not keep:
        raise ValueError(f"dataset {ds.name!r} ({path or ds.path}) has no samples of modality {modality!r}")
    if max_samples is not None and len(keep) > max_samples:
        rng = np.random.default_rng(seed)
        keep = sorted(rng.choice(keep, size=max_samples, replace=False).tolist())
    sub = items.subset(keep)
    sub.labels = np.asarray([remap[int(y)] for y in sub.labels], dtype=np.int64)
    prompts = class_prompts(ds)
    return View(f"{ds.name}/{path or ds.path}/{modality}", modality, sub, [ds.classes[c].name for c in cls],
                [prompts[c] for c in cls])  # fmt: skip


def modalities_of(suite: SuiteSpec, ds: DatasetSpec) -> list[str]:
    """Modalities with at least two classes in ``ds``."""
    mods = [c.modality or ds.modality for c in ds.classes]
    return sorted({m for m in mods if mods.count(m) >= 2})


def load_images(view: View, preprocess, *, corruption: str | None = None, severity: int = 0,
                seed: int = 0) -> torch.Tensor:  # fmt: skip
    """Decode, optionally corrupt (seed ``seed * 1_000_003 + i`` per image) and preprocess every image."""
    if corruption in MODALITY_ONLY and view.modality not in MODALITY_ONLY[corruption]:
        raise ValueError(f"corruption {corruption!r} applies only to {MODALITY_ONLY[corruption]}")
    out = []
    for i, src in enumerate(view.items.sources):
        img = read_image(src)
        if corruption:
            img = Image.fromarray(corrupt(np.asarray(img), corruption, severity, seed * 1_000_003 + i))
        out.append(preprocess(img))
    return torch.stack(out)
