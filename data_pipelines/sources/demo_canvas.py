"""Vectorised drawing primitives for the procedural demo images.

Every drawing function works on float32 canvases in normalised coordinates: ``X`` and ``Y`` are
``(S, S)`` grids spanning ``[-1, 1]`` (x to the right, y downwards) after a random pose (rotation,
scale, shift) has been applied, so the anatomy moves and rotates while the drawing code stays simple.
Shapes are soft-edged masks in ``[0, 1]``; textures are low-resolution noise interpolated with small
matrices. Gaussian filtering is a pair of matrix products with a reflect-boundary Gaussian matrix (the same
result as ``scipy.ndimage.gaussian_filter``, without importing scipy or calling it per image), and angular
harmonics use powers of the unit complex direction instead of ``arctan2`` + ``sin`` (10x cheaper).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

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
    lin = _base_grid(size)[0][0]
    th = np.deg2rad(rng.uniform(-pose.rot_deg, pose.rot_deg))
    s = rng.uniform(*pose.scale)
    tx, ty = rng.uniform(-pose.shift, pose.shift, size=2)
    c, sn = np.cos(th) / s, np.sin(th) / s
    # X = c (x - tx) + sn (y - ty), Y = -sn (x - tx) + c (y - ty): a column vector plus a row vector each
    xp = (F32(c) * lin)[None, :] + (F32(sn) * lin - F32(c * tx + sn * ty))[:, None]
    yp = (F32(-sn) * lin)[None, :] + (F32(c) * lin - F32(c * ty - sn * tx))[:, None]
    return xp, yp


def ellipse_dist(X, Y, cx, cy, rx, ry, angle: float = 0.0) -> np.ndarray:
    """Normalised elliptic radius: 1 on the boundary of the ellipse, 0 at its centre."""
    if angle:
        c, s = np.cos(angle), np.sin(angle)
        u = X * F32(c / rx) + Y * F32(s / rx) - F32((c * cx + s * cy) / rx)
        v = Y * F32(c / ry) - X * F32(s / ry) - F32((c * cy - s * cx) / ry)
    else:
        u = X * F32(1 / rx) - F32(cx / rx)
        v = Y * F32(1 / ry) - F32(cy / ry)
    u *= u
    v *= v
    u += v
    return np.sqrt(u, out=u)


def soft_step(d: np.ndarray, edge: float = 0.06) -> np.ndarray:
    """Soft inside-mask from a normalised distance ``d`` (1 inside, 0 outside, ramp of width ``edge``)."""
    m = d * F32(-1.0 / edge) + F32(1.0 / edge + 0.5)
    return np.clip(m, F32(0), F32(1), out=m)


def _frame(X, Y) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float]]:
    """Affine frame of a posed grid: posed coords of the image centre and the posed step per +1 image x / y."""
    s = X.shape[0] - 1
    x0, y0 = float(X[0, 0]), float(Y[0, 0])
    ex = ((float(X[0, s]) - x0) / 2.0, (float(Y[0, s]) - y0) / 2.0)
    ey = ((float(X[s, 0]) - x0) / 2.0, (float(Y[s, 0]) - y0) / 2.0)
    return (x0 + ex[0] + ey[0], y0 + ex[1] + ey[1]), ex, ey


def _box(X, Y, cx, cy, radius: float) -> tuple[slice, slice] | None:
    """Pixel rows/cols that can hold posed points within ``radius`` of ``(cx, cy)``; None = use the whole grid.

    Shapes are computed only inside this box (they are exactly 0 outside it), which makes small organs cheap.
    """
    size = X.shape[0]
    if X.shape != (size, size) or size < 8:
        return None
    (ox, oy), (ax, ay), (bx, by) = _frame(X, Y)
    nx, ny = math.hypot(ax, ay), math.hypot(bx, by)
    if abs(ax * bx + ay * by) > 1e-3 * nx * ny or abs(nx - ny) > 1e-3 * nx:  # not a similarity: no box
        return None
    det = ax * by - bx * ay
    dx, dy = float(cx) - ox, float(cy) - oy
    half = (size - 1) / 2.0
    jc, ic = ((dx * by - bx * dy) / det + 1) * half, ((ax * dy - dx * ay) / det + 1) * half
    rp = radius / nx * half + 2.0  # pixels, with a safety margin
    if 4 * rp * rp > 0.6 * size * size:
        return None
    j0, j1 = max(0, math.floor(jc - rp)), min(size, math.ceil(jc + rp) + 1)
    i0, i1 = max(0, math.floor(ic - rp)), min(size, math.ceil(ic + rp) + 1)
    return slice(i0, max(i0, i1)), slice(j0, max(j0, j1))


def ellipse(X, Y, cx, cy, rx, ry, angle: float = 0.0, edge: float = 0.06) -> np.ndarray:
    """Soft-edged filled ellipse mask."""
    box = _box(X, Y, cx, cy, max(rx, ry) * (1.0 + edge))
    if box is None:
        return soft_step(ellipse_dist(X, Y, cx, cy, rx, ry, angle), edge)
    out = np.zeros(X.shape, F32)
    if X[box].size:
        out[box] = soft_step(ellipse_dist(X[box], Y[box], cx, cy, rx, ry, angle), edge)
    return out


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
    coef = [(F32(amp * rng.uniform(0.3, 1.0)), rng.uniform(0, 2 * np.pi)) for _ in freqs]
    lo, hi = 1.0 - sum(float(a) for a, _ in coef), 1.0 + sum(float(a) for a, _ in coef)
    box = _box(X, Y, cx, cy, r * hi * max(aspect) * (1.0 + edge)) if lo > 0.05 else None
    if box is None:
        return _wobbly(X, Y, cx, cy, r, coef, freqs, aspect, angle, edge)
    out = np.zeros(X.shape, F32)
    if X[box].size:
        out[box] = _wobbly(X[box], Y[box], cx, cy, r, coef, freqs, aspect, angle, edge)
    return out


def _wobbly(X, Y, cx, cy, r, coef, freqs, aspect, angle, edge) -> np.ndarray:
    dx, dy = X - F32(cx), Y - F32(cy)
    if angle:
        c, s = F32(np.cos(angle)), F32(np.sin(angle))
        dx, dy = c * dx + s * dy, -s * dx + c * dy
    dx, dy = dx / F32(aspect[0]), dy / F32(aspect[1])
    rad = np.sqrt(dx * dx + dy * dy)
    inv = F32(1) / np.maximum(rad, F32(1e-12))
    z = np.empty(rad.shape, np.complex64)  # cos(theta) + i sin(theta)
    z.real = dx * inv
    z.imag = dy * inv
    mod = np.ones_like(rad)
    memo: dict = {}
    for k, (a, p) in zip(freqs, coef):  # sin(k theta + p) = Im(exp(i p) z^k)
        zk = _power(z, k, memo)
        mod += zk.imag * F32(a * np.cos(p)) + zk.real * F32(a * np.sin(p))
    mod *= F32(r)
    return soft_step(rad / mod, edge)


def _power(z: np.ndarray, k: int, memo: dict) -> np.ndarray:
    """``z ** k`` for a positive integer ``k`` by binary splitting (a few complex multiplications)."""
    if k == 1:
        return z
    if k not in memo:
        h = _power(z, k // 2, memo)
        memo[k] = h * h if k % 2 == 0 else h * h * z
    return memo[k]


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


@lru_cache(maxsize=512)
def gaussian_matrix(size: int, sigma: float, truncate: float = 4.0) -> np.ndarray:
    """``(size, size)`` matrix ``G`` with ``G @ v`` = 1D Gaussian filter of ``v`` (reflect boundary).

    Equals ``scipy.ndimage.gaussian_filter1d(v, sigma, mode="reflect", truncate=truncate)`` up to rounding.
    """
    r = int(truncate * sigma + 0.5)
    k = np.arange(-r, r + 1)
    w = np.exp(-0.5 * (k / sigma) ** 2)
    w /= w.sum()
    cols = np.mod(np.arange(size)[:, None] + k[None, :], 2 * size)
    cols = np.where(cols >= size, 2 * size - 1 - cols, cols)
    flat = (np.arange(size)[:, None] * size + cols).ravel()
    g = np.bincount(flat, weights=np.tile(w, size), minlength=size * size).reshape(size, size).astype(F32)
    g.flags.writeable = False
    return g


def quantize_sigma(sigma: float) -> float:
    """Round a blur width to 1/32 px so that the Gaussian matrices of random widths are cached and reused."""
    return max(1, round(float(sigma) * 32)) / 32


def gaussian_blur2d(img: np.ndarray, sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Gaussian filter over the two spatial axes of an HxW or HxWxC float32 image (square images)."""
    g = gaussian_matrix(img.shape[0], float(sigma), truncate)
    if img.ndim == 2:
        return g @ img @ g.T
    h, w, c = img.shape
    tmp = (g @ img.reshape(h, w * c)).reshape(h, w, c).transpose(1, 0, 2).reshape(w, h * c)
    return (g @ tmp).reshape(w, h, c).transpose(1, 0, 2)


def splat(size: int, xs: np.ndarray, ys: np.ndarray, weights: np.ndarray | float, sigma: float) -> np.ndarray:
    """Render points (normalised coordinates) as Gaussian dots of pixel width ``sigma``; peak ~= weight."""
    px = np.clip(np.round((np.asarray(xs) + 1) * 0.5 * (size - 1)).astype(np.int64), 0, size - 1)
    py = np.clip(np.round((np.asarray(ys) + 1) * 0.5 * (size - 1)).astype(np.int64), 0, size - 1)
    w = np.broadcast_to(np.asarray(weights, F32), px.shape)
    if sigma <= 0:
        return np.bincount(py * size + px, weights=w, minlength=size * size).reshape(size, size).astype(F32)
    sigma = quantize_sigma(sigma)
    g = gaussian_matrix(size, sigma, 3.0)
    if px.size <= size // 2:  # few points: sum of separable dots, (size x n) @ (n x size)
        img = (g[:, py] * w) @ g[:, px].T
    else:
        dots = np.bincount(py * size + px, weights=w, minlength=size * size).reshape(size, size).astype(F32)
        img = g @ dots @ g.T
    img *= F32(2 * np.pi * sigma * sigma)
    return img


def to_image_frame(X, Y, xs, ys):
    """Map posed-frame points to image-frame normalised coordinates (inverse of :func:`grid`'s pose)."""
    (ox, oy), (ax, ay), (bx, by) = _frame(X, Y)  # X, Y are affine in the image coordinates
    det = ax * by - bx * ay
    dx, dy = np.asarray(xs, np.float64) - ox, np.asarray(ys, np.float64) - oy
    return (dx * by - bx * dy) / det, (ax * dy - dx * ay) / det


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
    """Gaussian blur over the two spatial axes (a 3-tap kernel for sigma <= 0.7, else truncated at 2.5 sigma)."""
    if sigma <= 0.05:
        return img
    if sigma > 0.7:
        return gaussian_blur2d(img, quantize_sigma(sigma), 2.5)
    a = np.exp(-0.5 / sigma**2)
    w0, w1 = F32(1 / (1 + 2 * a)), F32(a / (1 + 2 * a))
    for ax in (0, 1):  # 3 taps, edge pixels replicated (= reflect for radius 1)
        src = img if ax == 0 else img.swapaxes(0, 1)
        out = src * w0
        out[1:] += src[:-1] * w1
        out[:-1] += src[1:] * w1
        out[0] += src[0] * w1
        out[-1] += src[-1] * w1
        img = out if ax == 0 else out.swapaxes(0, 1)
    return img


_LEVELS = 1024


def finish(canvas: np.ndarray, rng: np.random.Generator, profile: Profile) -> np.ndarray:
    """Apply the acquisition profile to a float canvas (HxW or HxWx3, ~[0, 1]) and quantise to uint8."""
    img = blur(canvas.astype(F32, copy=False), rng.uniform(*profile.blur))
    if img.ndim == 3:
        img = img * (1.0 + rng.uniform(-profile.color_cast, profile.color_cast, size=3).astype(F32))
    mean = float(img.mean())
    k = rng.uniform(*profile.contrast)
    b = rng.uniform(*profile.brightness)
    lut = np.linspace(0.0, 1.0, _LEVELS, dtype=F32) ** F32(rng.uniform(*profile.gamma)) * F32(255.0)
    # LUT index of clip((img - mean) * k + mean + b, 0, 1), rounded: one affine map, a clip, a truncation
    idx = img * F32(k * (_LEVELS - 1)) + F32(((1.0 - k) * mean + b) * (_LEVELS - 1) + 0.5)
    np.clip(idx, F32(0.5), F32(_LEVELS - 0.5), out=idx)
    out = lut[idx.astype(np.int32)]
    out += F32(255.0 * rng.uniform(*profile.noise)) * noise_field(rng, out.shape)
    np.clip(out, F32(0.0), F32(255.0), out=out)
    out += F32(0.5)
    return out.astype(np.uint8)
