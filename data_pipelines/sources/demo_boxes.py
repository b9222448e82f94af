"""Demo images with the masks of their findings, and the boxes export (``medclip-shards demo-findings``).

Example:
    >>> from data_pipelines.sources.demo_boxes import render_with_finding
    >>> from data_pipelines.sources.demo_findings import mask_box
    >>> img, mask = render_with_finding(1, split="test", index=0, size=96)  # xray/pneumonia
    >>> box = mask_box(mask)                                                  # (x0, y0, x1, y1), exclusive
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .demo import DEMO_CLASSES, render
from .demo_findings import FINDING_RULES, mask_box, recording


def render_with_finding(cls: int, *, split: str, index: int, seed: int = 0, size: int = 96):
    """Render one demo image and the union mask of its findings.

    Returns:
        ``(image, mask)``: the same ``uint8`` image as :func:`~data_pipelines.sources.demo.render` and a
        boolean ``(size, size)`` mask, or ``None`` for classes without a located finding (or an empty mask).
    """
    with recording() as masks:
        img = render(cls, split=split, index=index, seed=seed, size=size)
    if not masks:
        return img, None
    mask = np.logical_or.reduce(masks)
    return img, (mask if mask.any() else None)


def source_id(cls: int, split: str, index: int) -> str:
    """The demo source's id of an image (the same string :class:`~data_pipelines.sources.demo.DemoSource` uses)."""
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
