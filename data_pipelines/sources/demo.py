"""Procedural six-modality demo data set (the embedded default of ``make shards``).

17 classes identified by (modality, label), each with a fixed anatomy (see :data:`DEMO_CLASSES`). Every image
is drawn from its own RNG seeded by ``(seed, class index, split, index)``, so any image can be regenerated
alone, in any process, in any order. Splits ``train`` / ``val`` / ``test`` use the standard acquisition
profile; ``test_shifted`` draws new anatomy with a shifted profile (lower contrast, strong gamma, more
noise, blur, colour cast) for robustness evaluation.

Example:
    >>> from data_pipelines.sources.demo import DEMO_CLASSES, render
    >>> img = render(0, split="train", index=3, seed=0, size=96)   # (96, 96) uint8 chest X-ray
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .base import Item, Loaded, register_source
from .demo_canvas import SHIFTED, STANDARD, finish
from .demo_color import draw_fundus, draw_pathology
from .demo_radiology import draw_ct, draw_mri, draw_ultrasound, draw_xray


@dataclass(frozen=True)
class DemoClass:
    """One demo class: modality, anatomy and label (a class is identified by (modality, label))."""

    modality: str
    anatomy: str
    label: str


DEMO_CLASSES: tuple[DemoClass, ...] = tuple(
    DemoClass(m, a, lab)
    for m, a, labels in (
        ("xray", "chest", ("normal", "pneumonia", "pleural effusion", "cardiomegaly")),
        ("ct", "abdomen", ("normal", "kidney stone", "liver lesion")),
        ("mri", "brain", ("normal", "brain tumor")),
        ("ultrasound", "breast", ("normal", "benign mass", "malignant mass")),
        ("pathology", "colon", ("normal", "adenocarcinoma")),
        ("fundus", "retina", ("normal", "diabetic retinopathy", "glaucoma")),
    )
    for lab in labels
)
DEMO_SPLITS: tuple[str, ...] = ("train", "val", "test", "test_shifted")
RGB_MODALITIES = frozenset({"pathology", "fundus"})

_DRAW: dict[str, Callable[[str, int, np.random.Generator], np.ndarray]] = {
    "xray": draw_xray,
    "ct": draw_ct,
    "mri": draw_mri,
    "ultrasound": draw_ultrasound,
    "pathology": draw_pathology,
    "fundus": draw_fundus,
}


def class_index(modality: str, label: str) -> int:
    """Index of the demo class (modality, label) in :data:`DEMO_CLASSES`; ValueError if unknown."""
    for i, c in enumerate(DEMO_CLASSES):
        if c.modality == modality and c.label == label:
            return i
    names = ", ".join(f"{c.modality}/{c.label}" for c in DEMO_CLASSES)
    raise ValueError(f"unknown demo class {modality}/{label}; known: {names}")


def render(cls: int, *, split: str, index: int, seed: int = 0, size: int = 96) -> np.ndarray:
    """Draw one demo image.

    Args:
        cls: index into :data:`DEMO_CLASSES`.
        split: one of :data:`DEMO_SPLITS` (``test_shifted`` uses the shifted acquisition profile).
        index: image index within (class, split).
        seed: data set seed.
        size: output side in pixels.

    Returns:
        ``uint8`` array, ``(size, size)`` for grayscale modalities, ``(size, size, 3)`` for pathology/fundus.
    """
    if split not in DEMO_SPLITS:
        raise ValueError(f"unknown demo split {split!r}; expected one of {', '.join(DEMO_SPLITS)}")
    c = DEMO_CLASSES[cls]
    rng = np.random.default_rng([seed, cls, DEMO_SPLITS.index(split), index])
    canvas = _DRAW[c.modality](c.label, size, rng)
    return finish(canvas, rng, SHIFTED if split == "test_shifted" else STANDARD)


def _split_class(name: str) -> tuple[str, str]:
    if "/" not in name:
        raise ValueError(f"demo class {name!r} must be written modality/label, e.g. 'xray/pneumonia'")
    m, lab = name.split("/", 1)
    return m.strip(), lab.strip()


@dataclass
class DemoSourceConfig:
    """Settings of the ``demo`` source (images per class and split)."""

    type: str = "demo"
    train: int = 400  # images per class in the train split
    val: int = 50  # images per class in the val split
    test: int = 100  # images per class in the test split
    test_shifted: int = 100  # images per class in the shifted (robustness) test split
    image_size: int = 96  # side of the generated images in pixels
    seed: int | None = None  # generator seed; None = the build seed
    classes: list[str] | None = None  # optional subset, "modality/label" strings; None = all 17
    license: str = "CC0-1.0"

    def validate(self) -> None:
        for s in DEMO_SPLITS:
            if getattr(self, s) < 0:
                raise ValueError(f"demo: {s} must be >= 0, got {getattr(self, s)}")
        if not 16 <= self.image_size <= 1024:
            raise ValueError(f"demo: image_size must be in [16, 1024], got {self.image_size}")
        for name in self.classes or []:
            class_index(*_split_class(name))


@register_source("demo", DemoSourceConfig)
class DemoSource:
    """Source yielding the procedural demo images; loading renders the image on the fly."""

    def __init__(self, name: str, cfg: DemoSourceConfig, *, seed: int) -> None:
        self.name, self.cfg = name, cfg
        self.seed = cfg.seed if cfg.seed is not None else seed
        if cfg.classes:
            self.classes = [class_index(*_split_class(n)) for n in cfg.classes]
        else:
            self.classes = list(range(len(DEMO_CLASSES)))

    def items(self) -> list[Item]:
        """All (class, split, index) images, in a fixed order."""
        out = []
        for split in DEMO_SPLITS:
            for ci in self.classes:
                c = DEMO_CLASSES[ci]
                slug = c.label.replace(" ", "_")
                for i in range(getattr(self.cfg, split)):
                    out.append(
                        Item(
                            source=self.name,
                            source_id=f"{c.modality}-{slug}-{split}-{i:06d}",
                            split=split,
                            modality=c.modality,
                            anatomy=c.anatomy,
                            labels=(c.label,),
                            ref=(ci, split, i),
                        )
                    )
        return out

    def load(self, item: Item) -> Loaded:
        """Render the item's image."""
        ci, split, i = item.ref
        return Loaded(pixels=render(ci, split=split, index=i, seed=self.seed, size=self.cfg.image_size))
