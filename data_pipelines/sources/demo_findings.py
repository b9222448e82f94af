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

Rendering with the mask and the JSON export are in :mod:`.demo_boxes` (this module is a leaf the drawing
code imports).
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


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Tight bounding box ``(x0, y0, x1, y1)`` of a non-empty boolean mask, ``x1``/``y1`` exclusive."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        raise ValueError("empty mask has no box")
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
