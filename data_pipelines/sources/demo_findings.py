"""Where the demo generator draws each finding: per-image masks and boxes, recorded while rendering.

The ``draw_*`` functions call :func:`note` with a boolean mask of the finding they just drew (the pixels
where the finding's own strength map passes a fixed threshold, listed in :data:`FINDING_RULES`); outside
:func:`recording` it does nothing, so rendering without recording is unchanged (same RNG draws, same bytes).
Masks are in the output image's pixel frame (the acquisition profile blurs but does not move pixels).

Findings with a location: pneumonia (consolidation patch inside the lung), pleural effusion (the fluid-filled
lung base), cardiomegaly (the heart), kidney stone (the stones), liver lesion (the lesions), brain tumor
(the mass), benign / malignant mass (the mass), glaucoma (the enlarged optic cup), diabetic retinopathy
(haemorrhages and exudates: scattered, so its box is large). Normal classes and adenocarcinoma (a
whole-slide texture change) have none.

Example:
    >>> from data_pipelines.sources.demo_findings import render_with_finding
    >>> img, mask = render_with_finding(1, split="test", index=0, size=96)  # xray/pneumonia
    >>> box = mask_box(mask)                                                  # (x0, y0, x1, y1), exclusive
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

FINDING_RULES: dict[str, str] = {
    "pneumonia": "consolidation strength (patch x lung) > 0.2",
    "pleural effusion": "fluid fill x lung > 0.5, every affected side",
    "cardiomegaly": "heart mask > 0.5",
    "kidney stone": "stone dots > 0.2",
    "liver lesion": "lesion mask (inside the liver) > 0.3, every lesion",
    "brain tumor": "mass mask > 0.5",
    "benign mass": "mass mask > 0.5",
    "malignant mass": "mass mask > 0.5",
    "glaucoma": "optic cup mask > 0.5",
    "diabetic retinopathy": "haemorrhage or exudate dots > 0.2",
}

_ACTIVE: list[np.ndarray] | None = None


def note(mask: np.ndarray) -> None:
    """Record a finding mask (boolean, image frame) while :func:`recording` is active; no-op otherwise."""
    if _ACTIVE is not None:
        _ACTIVE.append(np.asarray(mask, dtype=bool).copy())


@contextlib.contextmanager
def recording() -> Iterator[list[np.ndarray]]:
    """Collect the masks :func:`note` receives inside the block (not re-entrant; one render at a time)."""
    global _ACTIVE
    if _ACTIVE is not None:
        raise RuntimeError("demo finding recording is already active")
    _ACTIVE = out = []
    try:
        yield out
    finally:
        _ACTIVE = None


def render_with_finding(cls: int, *, split: str, index: int, seed: int = 0, size: int = 96):
    """Render one demo image and the union mask of its findings.

    Returns:
        ``(image, mask)``: the same ``uint8`` image as :func:`~data_pipelines.sources.demo.render` and a
        boolean ``(size, size)`` mask, or ``None`` for classes without a located finding (or an empty mask).
    """
    from .demo import render

    with recording() as masks:
        img = render(cls, split=split, index=index, seed=seed, size=size)
    if not masks:
        return img, None
    mask = np.logical_or.reduce(masks)
    return img, (mask if mask.any() else None)


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Tight bounding box ``(x0, y0, x1, y1)`` of a non-empty boolean mask, ``x1``/``y1`` exclusive."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        raise ValueError("empty mask has no box")
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def source_id(cls: int, split: str, index: int) -> str:
    """The demo source's id of an image (the same string :class:`~data_pipelines.sources.demo.DemoSource` uses)."""
    from .demo import DEMO_CLASSES

    c = DEMO_CLASSES[cls]
    return f"{c.modality}-{c.label.replace(' ', '_')}-{split}-{index:06d}"


def export_findings(
    out: str, *, split: str = "test", per_class: int = 100, seed: int = 0, size: int = 96, masks: str | None = None
) -> dict:
    """Write the finding boxes of a demo split as JSON (and optionally the masks as a compressed ``.npz``).

    The defaults match the demo build (``configs/data/demo.yaml``: seed 0, 96 px, 100 test images per class),
    so ``source_id`` joins the boxes to the built shards' samples. Only images with a located finding are
    listed. JSON layout: ``{"format", "split", "seed", "image_size", "rules", "samples": [{"source_id",
    "modality", "label", "index", "box": [x0, y0, x1, y1] (pixels, x1/y1 exclusive), "mask_pixels"}]}``;
    the ``.npz`` holds one boolean ``(size, size)`` array per ``source_id``.

    Returns:
        The JSON document written.
    """
    import json
    from pathlib import Path

    from .demo import DEMO_CLASSES

    samples, arrays = [], {}
    for ci, c in enumerate(DEMO_CLASSES):
        if c.label not in FINDING_RULES:
            continue
        for i in range(per_class):
            _, mask = render_with_finding(ci, split=split, index=i, seed=seed, size=size)
            if mask is None:
                continue
            sid = source_id(ci, split, i)
            samples.append(
                {
                    "source_id": sid,
                    "modality": c.modality,
                    "label": c.label,
                    "index": i,
                    "box": list(mask_box(mask)),
                    "mask_pixels": int(mask.sum()),
                }
            )
            arrays[sid] = mask
    doc = {
        "format": "medclip-demo-findings/1",
        "split": split,
        "seed": seed,
        "image_size": size,
        "rules": FINDING_RULES,
        "samples": samples,
    }
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(doc, indent=1) + "\n")
    if masks:
        np.savez_compressed(masks, **arrays)
    return doc
