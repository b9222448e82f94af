"""Vectorised drawing primitives for the procedural demo images.

Every drawing function works on float32 canvases in normalised coordinates: ``X`` and ``Y`` are
``(S, S)`` grids spanning ``[-1, 1]`` (x to the right, y downwards) after a random pose (rotation,
scale, shift) has been applied, so the anatomy moves and rotates while the drawing code stays simple.
Shapes are soft-edged masks in ``[0, 1]``; textures are low-resolution noise upsampled with PIL.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.ndimage import gaussian_filter

F32 = np.float32


@dataclass(frozen=True)
class Pose:
    """Random rigid-ish pose range applied to the anatomy (degrees, scale factor, shift in [-1, 1] units)."""

    rot_deg: float = 8.0
    scale: tuple[float, float] = (0.9, 1.1)
    shift: float = 0.06


@lru_cache(maxsize=8)
def _base_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    lin = np.linspace(-1.0, 1.0, size, dtype=F32)
    x, y = np.meshgrid(lin, lin)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


def grid(size: int, rng: np.random.Generator, pose: Pose = Pose()) -> tuple[np.ndarray, np.ndarray]:
    """Return posed coordinate grids ``(X, Y)`` of shape ``(size, size)``."""
    x, y = _base_grid(size)
    th = np.deg2rad(rng.uniform(-pose.rot_deg, pose.rot_deg))
    s = rng.uniform(*pose.scale)
    tx, ty = rng.uniform(-pose.shift, pose.shift, size=2)
    c, sn = F32(np.cos(th)), F32(np.sin(th))
    xp = (c * (x - tx) + sn * (y - ty)) / F32(s)
    yp = (-sn * (x - tx) + c * (y - ty)) / F32(s)
    return xp.astype(F32), yp.astype(F32)


def ellipse_dist(X, Y, cx, cy, rx, ry, angle: float = 0.0) -> np.ndarray:
    """Normalised elliptic radius: 1 on the boundary of the ellipse, 0 at its centre."""
    dx, dy = X - F32(cx), Y - F32(cy)
    if angle:
        c, s = F32(np.cos(angle)), F32(np.sin(angle))
        dx, dy = c * dx + s * dy, -s * dx + c * dy
    return np.sqrt((dx / F32(rx)) ** 2 + (dy / F32(ry)) ** 2)


def soft_step(d: np.ndarray, edge: float = 0.06) -> np.ndarray:
    """Soft inside-mask from a normalised distance ``d`` (1 inside, 0 outside, ramp of width ``edge``)."""
    return np.clip((1.0 - d) / F32(edge) + 0.5, 0.0, 1.0).astype(F32)


def ellipse(X, Y, cx, cy, rx, ry, angle: float = 0.0, edge: float = 0.06) -> np.ndarray:
    """Soft-edged filled ellipse mask."""
    return soft_step(ellipse_dist(X, Y, cx, cy, rx, ry, angle), edge)


def wobbly(
    X,
    Y,
    cx,
    cy,
    r,
    rng: np.random.Generator,
    *,
    amp: float,
    freqs=(2, 3, 5),
    aspect=(1.0, 1.0),
    angle: float = 0.0,
    edge: float = 0.08,
) -> np.ndarray:
    """Soft mask of a blob whose radius is modulated by random harmonics (irregular margins)."""
    dx, dy = X - F32(cx), Y - F32(cy)
    if angle:
        c, s = F32(np.cos(angle)), F32(np.sin(angle))
        dx, dy = c * dx + s * dy, -s * dx + c * dy
    dx, dy = dx / F32(aspect[0]), dy / F32(aspect[1])
    theta = np.arctan2(dy, dx)
    mod = np.ones_like(theta)
    for k in freqs:
        mod += F32(amp * rng.uniform(0.3, 1.0)) * np.sin(k * theta + F32(rng.uniform(0, 2 * np.pi)))
    d = np.sqrt(dx * dx + dy * dy) / (F32(r) * mod)
    return soft_step(d, edge)


@lru_cache(maxsize=64)
def _interp(size: int, cells: int) -> np.ndarray:
    """``(size, cells)`` smooth interpolation matrix (Gaussian weights over the cell centres, rows sum to 1)."""
    x = (np.arange(size) + 0.5) / size * cells - 0.5
    w = np.exp(-0.5 * ((x[:, None] - np.arange(cells)[None, :]) / 0.6) ** 2)
    m = (w / w.sum(1, keepdims=True)).astype(F32)
    m.flags.writeable = False
    return m


def smooth_noise(rng: np.random.Generator, size: int, cells: int, *, aniso: tuple[int, int] | None = None):
    """Zero-mean, unit-std smooth noise: a ``cells x cells`` random grid interpolated up to ``size``."""
    ch, cw = aniso if aniso else (cells, cells)
    low = rng.standard_normal((ch, cw)).astype(F32)
    up = _interp(size, ch) @ low @ _interp(size, cw).T
    return (up - up.mean()) / (up.std() + F32(1e-6))


def splat(size: int, xs: np.ndarray, ys: np.ndarray, weights: np.ndarray | float, sigma: float) -> np.ndarray:
    """Render points (normalised coordinates) as Gaussian dots of pixel width ``sigma``; peak ~= weight."""
    px = np.clip(np.round((np.asarray(xs) + 1) * 0.5 * (size - 1)).astype(np.int64), 0, size - 1)
    py = np.clip(np.round((np.asarray(ys) + 1) * 0.5 * (size - 1)).astype(np.int64), 0, size - 1)
    img = np.zeros((size, size), F32)
    np.add.at(img, (py, px), np.broadcast_to(np.asarray(weights, F32), px.shape))
    if sigma > 0:
        img = gaussian_filter(img, sigma, truncate=3.0) * F32(2 * np.pi * sigma * sigma)
    return img


def to_image_frame(X, Y, xs, ys):
    """Map posed-frame points to image-frame normalised coordinates (inverse of :func:`grid`'s pose)."""
    # X, Y are affine in the image coordinates; fit the 2x3 map from three grid corners and invert it
    s = X.shape[0] - 1
    p = np.array([[X[0, 0], Y[0, 0]], [X[0, s], Y[0, s]], [X[s, 0], Y[s, 0]]], np.float64)
    ex = (p[1] - p[0]) / 2.0  # posed-frame step per +1 image x
    ey = (p[2] - p[0]) / 2.0
    origin = p[0] + ex + ey  # posed coords of the image centre
    A = np.stack([ex, ey], 1)
    v = np.linalg.solve(A, np.stack([np.asarray(xs) - origin[0], np.asarray(ys) - origin[1]]))
    return v[0], v[1]


@dataclass(frozen=True)
class Profile:
    """Acquisition ("scanner") profile applied after drawing: contrast, gamma, noise, blur."""

    contrast: tuple[float, float] = (0.85, 1.15)
    brightness: tuple[float, float] = (-0.06, 0.06)
    gamma: tuple[float, float] = (0.85, 1.18)
    noise: tuple[float, float] = (0.015, 0.045)
    blur: tuple[float, float] = (0.0, 0.6)
    color_cast: float = 0.04


STANDARD = Profile()
SHIFTED = Profile(
    contrast=(0.55, 0.75),
    brightness=(0.04, 0.14),
    gamma=(1.35, 1.7),
    noise=(0.06, 0.09),
    blur=(0.9, 1.4),
    color_cast=0.12,
)


_NOISE_BANK: np.ndarray | None = None


def noise_field(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard-normal noise of ``shape``: a random window of a fixed, process-independent noise bank.

    Much faster than drawing fresh normals per image and still deterministic given ``rng``.
    """
    global _NOISE_BANK
    if _NOISE_BANK is None:
        _NOISE_BANK = np.random.default_rng(12345).standard_normal(1 << 20).astype(F32)
    n = int(np.prod(shape))
    if n > _NOISE_BANK.size // 2:
        return rng.standard_normal(shape, dtype=F32)
    off = int(rng.integers(0, _NOISE_BANK.size - n))
    return _NOISE_BANK[off : off + n].reshape(shape)


def blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur over the two spatial axes; a 3-tap separable kernel for small sigma (fast path)."""
    if sigma <= 0.05:
        return img
    if sigma > 0.7:
        return gaussian_filter(img, (sigma, sigma, 0) if img.ndim == 3 else sigma, truncate=2.5)
    a = F32(np.exp(-0.5 / sigma**2))
    w0, w1 = F32(1) / (1 + 2 * a), a / (1 + 2 * a)
    for ax in (0, 1):
        p = np.concatenate([np.take(img, [0], ax), img, np.take(img, [-1], ax)], ax)
        lo = p[:-2] if ax == 0 else p[:, :-2]
        mid = p[1:-1] if ax == 0 else p[:, 1:-1]
        hi = p[2:] if ax == 0 else p[:, 2:]
        img = w0 * mid + w1 * (lo + hi)
    return img


_LEVELS = 1024


def finish(canvas: np.ndarray, rng: np.random.Generator, profile: Profile) -> np.ndarray:
    """Apply the acquisition profile to a float canvas (HxW or HxWx3, ~[0, 1]) and quantise to uint8."""
    img = blur(canvas.astype(F32, copy=False), rng.uniform(*profile.blur))
    if img.ndim == 3:
        img = img * (1.0 + rng.uniform(-profile.color_cast, profile.color_cast, size=3).astype(F32))
    mean = F32(img.mean())
    img = (img - mean) * F32(rng.uniform(*profile.contrast)) + mean + F32(rng.uniform(*profile.brightness))
    lut = np.linspace(0.0, 1.0, _LEVELS, dtype=F32) ** F32(rng.uniform(*profile.gamma)) * F32(255.0)
    idx = (np.clip(img, 0.0, 1.0) * F32(_LEVELS - 1) + F32(0.5)).astype(np.int32)
    img = lut[idx] + F32(255.0 * rng.uniform(*profile.noise)) * noise_field(rng, img.shape)
    return (np.clip(img, 0.0, 255.0) + F32(0.5)).astype(np.uint8)
