"""Localisation scores of a saliency map against a finding box: pointing game and energy inside the box.

- **Pointing game** (Zhang et al., 2016, "Top-down Neural Attention by Excitation Backprop", ECCV): a hit
  when the map's maximum lies inside the box, grown by ``tolerance`` pixels on every side (the paper uses
  15 px at 224 px). A map with no single maximum (constant, e.g. all zeros) counts as a miss.
- **Energy inside the box** (Wang et al., 2020, "Score-CAM", CVPRW, "energy-based pointing game"): the
  share of the map's total (non-negative) mass that falls inside the box; 0 for an all-zero map. A uniform
  map scores the box's area fraction.

Boxes are ``(x0, y0, x1, y1)`` in pixels with ``x1`` / ``y1`` exclusive. numpy only.
"""

from __future__ import annotations

import numpy as np


def _check(heat: np.ndarray, box) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    heat = np.asarray(heat, dtype=np.float64)
    if heat.ndim != 2:
        raise ValueError(f"saliency map must be 2-D [H, W], got shape {heat.shape}")
    x0, y0, x1, y1 = (int(v) for v in box)
    if not (0 <= x0 < x1 <= heat.shape[1] and 0 <= y0 < y1 <= heat.shape[0]):
        raise ValueError(f"box {box} is empty or outside a {heat.shape[1]}x{heat.shape[0]} map")
    return heat, (x0, y0, x1, y1)


def pointing_hit(heat: np.ndarray, box, *, tolerance: int = 0) -> bool:
    """Whether the (unique-valued) maximum of ``heat`` lies inside ``box`` grown by ``tolerance`` pixels.

    Ties between several maximal pixels: the first in row-major order is the point; a constant map is a miss.
    """
    heat, (x0, y0, x1, y1) = _check(heat, box)
    if not np.isfinite(heat).all() or heat.max() == heat.min():
        return False
    y, x = np.unravel_index(int(np.argmax(heat)), heat.shape)
    return bool(x0 - tolerance <= x < x1 + tolerance and y0 - tolerance <= y < y1 + tolerance)


def energy_in_box(heat: np.ndarray, box) -> float:
    """Fraction of the non-negative part of ``heat`` inside ``box`` (0.0 when the map has no mass)."""
    heat, (x0, y0, x1, y1) = _check(heat, box)
    pos = np.clip(np.nan_to_num(heat), 0.0, None)
    total = pos.sum()
    return float(pos[y0:y1, x0:x1].sum() / total) if total > 0 else 0.0


def centre_map(size: int, *, sigma: float = 0.25) -> np.ndarray:
    """Centre-bias baseline: an isotropic Gaussian at the image centre, ``sigma`` in units of the side."""
    c = (np.arange(size) + 0.5) / size - 0.5
    return np.exp(-(c[:, None] ** 2 + c[None, :] ** 2) / (2 * sigma**2)).astype(np.float32)


def random_map(size: int, grid: int, rng: np.random.Generator) -> np.ndarray:
    """Random baseline with Grad-CAM's structure: uniform noise on a ``grid x grid`` patch grid, upsampled
    by nearest-neighbour blocks plus a tiny per-pixel jitter (so ties break at random, not at the corner)."""
    cells = rng.random((grid, grid))
    rep = -(-size // grid)
    up = np.kron(cells, np.ones((rep, rep)))[:size, :size]
    return (up + 1e-6 * rng.random((size, size))).astype(np.float32)
