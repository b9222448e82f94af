"""Colour demo modalities: H&E colon histopathology and colour fundus photographs.

Each ``draw_*(label, size, rng)`` returns a float32 ``(size, size, 3)`` canvas in ~[0, 1] before the
acquisition profile. Histology is rendered with Beer-Lambert stain optics (hematoxylin / eosin optical
densities), so stain variation is a change of stain vectors rather than a colour filter.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .demo_canvas import F32, Pose, ellipse, grid, smooth_noise, splat, to_image_frame
from .demo_findings import note

_HEMATOXYLIN = np.array([0.65, 0.70, 0.29], F32)
_EOSIN = np.array([0.07, 0.99, 0.11], F32)


def _glands(X, Y, centers, radii) -> np.ndarray:
    """Normalised distance to the nearest gland (<1 inside a gland), for K glands at once.

    ``|p - c_k|^2 / r_k^2`` for every pixel p and gland k is one (N x 4) @ (4 x K) product, then a min over k.
    """
    if len(centers) == 0:
        return np.full(X.shape, 10.0, F32)
    c = centers.astype(np.float64)
    inv = 1.0 / radii.astype(np.float64) ** 2
    coef = np.stack([-2 * c[:, 0] * inv, -2 * c[:, 1] * inv, (c * c).sum(1) * inv, inv]).astype(F32)
    x, y = X.ravel(), Y.ravel()
    feats = np.stack([x, y, np.ones_like(x), x * x + y * y], 1)
    d2 = (feats @ coef).min(axis=1)
    return np.sqrt(np.maximum(d2, F32(0)), out=d2).reshape(X.shape)


def draw_pathology(label: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """H&E colon mucosa: crypts with goblet-cell epithelium and basal nuclei, or adenocarcinoma glands."""
    X, Y = grid(size, rng, Pose(rot_deg=180, scale=(0.85, 1.15), shift=0.2))
    cancer = label == "adenocarcinoma"
    step = rng.uniform(0.42, 0.5)
    g = np.arange(-1.4, 1.4 + 1e-6, step)
    gx, gy = np.meshgrid(g, g)
    centers = np.stack([gx.ravel(), gy.ravel()], 1) + rng.normal(0, 0.05 if not cancer else 0.13, (gx.size, 2))
    radii = rng.uniform(0.09, 0.3, len(centers)) if cancer else rng.uniform(0.14, 0.18, len(centers))
    keep = rng.random(len(centers)) < (0.8 if cancer else 1.0)
    ix, iy = to_image_frame(X, Y, centers[:, 0], centers[:, 1])
    scale = np.abs(X[0, 1] - X[0, 0]) + np.abs(Y[0, 1] - Y[0, 0])  # posed units per pixel (upper bound)
    margin = 1.0 + radii / (scale * (size - 1) / 2)
    keep &= (np.abs(ix) < margin) & (np.abs(iy) < margin)
    centers, radii = centers[keep], radii[keep]
    d = _glands(X, Y, centers, radii)
    d = d + smooth_noise(rng, size, 12) * F32(0.12 if cancer else 0.03)  # irregular vs smooth margins
    lumen_frac = rng.uniform(0.25, 0.45) if cancer else rng.uniform(0.45, 0.6)
    epi = np.clip((1.0 - d) / F32(0.08), 0, 1)
    lumen = np.clip((lumen_frac - d) / F32(0.08), 0, 1)
    fibres = smooth_noise(rng, size, 0, aniso=(6, 30))
    E = F32(0.4) + F32(0.08) * fibres + epi * F32(0.12) - lumen * F32(0.45)
    H = F32(0.05) + epi * F32(0.05)
    if cancer:  # dirty necrosis in lumina
        E += lumen * F32(rng.uniform(0.0, 0.3)) * (smooth_noise(rng, size, 20) > 0)
    # nuclei: basal rows around every gland, plus stromal cells
    n = (2 * np.pi * radii / (0.035 if cancer else 0.05)).astype(np.int64)
    if cancer:
        per = n * rng.integers(2, 4, len(n))  # 2-3 stratified rows of nuclei per gland
        gl = np.repeat(np.arange(len(n)), per)
        ang = rng.uniform(0, 2 * np.pi, gl.size)
        rr = radii[gl] * rng.uniform(0.55, 1.0, gl.size)
    else:  # one regular basal row
        gl = np.repeat(np.arange(len(n)), n)
        start = np.concatenate([[0], np.cumsum(n)[:-1]]).astype(np.int64)
        ang = 2 * np.pi * (np.arange(gl.size) - start[gl]) / np.maximum(n[gl], 1)
        rr = radii[gl] * rng.uniform(0.82, 0.9, gl.size)
    xs, ys = [centers[gl, 0] + rr * np.cos(ang)], [centers[gl, 1] + rr * np.sin(ang)]
    n_str = rng.integers(60, 110) if cancer else rng.integers(25, 60)
    xs.append(rng.uniform(-1, 1, n_str))
    ys.append(rng.uniform(-1, 1, n_str))
    xs, ys = np.concatenate(xs), np.concatenate(ys)
    sigma = rng.uniform(1.1, 1.5) if cancer else rng.uniform(0.7, 0.9)
    ws = rng.uniform(0.8, 1.2, len(xs)) * (rng.uniform(1.2, 1.6) if cancer else 1.2)
    nuclei = splat(size, *to_image_frame(X, Y, xs, ys), ws, sigma)
    H += np.clip(nuclei, 0, 2.5)
    jitter = 1 + rng.normal(0, 0.05, (2, 3)).astype(F32)
    od = H[..., None] * (_HEMATOXYLIN * jitter[0]) + np.clip(E, 0, None)[..., None] * (_EOSIN * jitter[1])
    return np.exp(-od * F32(1.3))


@lru_cache(maxsize=8)
def _field(size: int) -> np.ndarray:
    """The circular field of view of a fundus camera (fixed, in image coordinates)."""
    lin = np.linspace(-1, 1, size, dtype=F32)
    m = ellipse(*np.meshgrid(lin, lin), 0, 0, 0.94, 0.94, edge=0.03)
    m.flags.writeable = False
    return m


def draw_fundus(label: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """Colour fundus photograph: orange-red retina, optic disc and cup, vessels, macula, lesions."""
    X, Y = grid(size, rng, Pose(rot_deg=10, scale=(0.95, 1.05), shift=0.04))
    field = _field(size)
    r2 = X * X + Y * Y
    base = np.array([rng.uniform(0.75, 0.9), rng.uniform(0.3, 0.42), rng.uniform(0.1, 0.18)], F32)
    shade = (F32(1) - F32(0.35) * r2) * (F32(1) + F32(0.06) * smooth_noise(rng, size, 14))
    side = rng.choice([-1, 1])
    dx, dy, rd = side * rng.uniform(0.38, 0.48), rng.uniform(-0.08, 0.08), rng.uniform(0.12, 0.15)
    mac = np.exp(-((X + side * 0.15) ** 2 + Y**2) / F32(0.03))
    img = (shade * (F32(1) - F32(0.35) * mac))[..., None] * base
    # vessels: arcades leaving the disc towards the macula side, plus nasal branches
    xs, ys = [], []
    t = np.linspace(0, 1, 220)
    for up in (-1, 1):
        wig = np.cumsum(rng.normal(0, 0.004, (2, t.size)), 1)
        xs.append(dx - side * 0.95 * t + wig[0])
        ys.append(dy + up * (0.42 * np.sin(np.pi * t * 0.85) + 0.04) + wig[1])
        wig = np.cumsum(rng.normal(0, 0.004, (2, t.size)), 1)
        xs.append(dx + side * 0.5 * t + wig[0])
        ys.append(dy + up * rng.uniform(0.2, 0.5) * t + wig[1])
    sig = rng.uniform(0.7, 1.0) * size / 112
    vessels = splat(size, *to_image_frame(X, Y, np.concatenate(xs), np.concatenate(ys)), 0.35 / sig, sig)
    v = np.clip(vessels, 0, 1)[..., None]
    img = img * (1 - v * np.array([0.35, 0.7, 0.6], F32))
    disc = ellipse(X, Y, dx, dy, rd, rd * rng.uniform(1.0, 1.15), edge=0.15)[..., None]
    img = img * (1 - disc) + disc * np.array([0.98, 0.78, 0.5], F32)
    cdr = rng.uniform(0.7, 0.9) if label == "glaucoma" else rng.uniform(0.2, 0.42)
    cup = ellipse(X, Y, dx, dy, rd * cdr, rd * cdr * rng.uniform(1.0, 1.2), edge=0.25)[..., None]
    img = img * (1 - cup) + cup * np.array([1.0, 0.95, 0.82], F32)
    if label == "glaucoma":
        note(cup[..., 0] > 0.5)
    if label == "diabetic retinopathy":
        n = rng.integers(12, 30)
        hx, hy = rng.uniform(-0.75, 0.75, n), rng.uniform(-0.7, 0.7, n)
        hem = np.clip(splat(size, *to_image_frame(X, Y, hx, hy), 1.0, rng.uniform(1.0, 1.8)), 0, 1)
        img = img * (1 - hem[..., None] * np.array([0.45, 0.8, 0.7], F32))
        m = rng.integers(6, 18)
        ex = -side * 0.15 + rng.normal(0, 0.2, m)
        ey = rng.normal(0, 0.2, m)
        exu = np.clip(splat(size, *to_image_frame(X, Y, ex, ey), 1.0, rng.uniform(1.0, 1.6)), 0, 1)
        note((hem > 0.2) | (exu > 0.2))
        img = img + exu[..., None] * np.array([0.3, 0.35, 0.05], F32)
    return img * field[..., None]
