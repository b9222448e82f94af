"""Image corruptions for medical images at 5 severities, deterministic by seed.

``corrupt(img, name, severity, seed)`` takes a uint8 ``HxWxC`` (or ``HxW``) array and returns a corrupted
array of the same shape and dtype. The random draws depend on ``(seed, name)`` only, not on the severity,
so the same seed gives the same noise field / blur direction / bubble positions at every severity and a
higher severity only makes it stronger. Size-dependent parameters (blur radii, kernel lengths) are given
for a 224-pixel image and scaled to the image's shorter side (by at least 0.4).
"""

from __future__ import annotations

import io
import zlib

import numpy as np
from PIL import Image
from scipy import ndimage

CORRUPTIONS = (
    "gaussian_noise",
    "speckle_noise",
    "gaussian_blur",
    "motion_blur",
    "jpeg",
    "pixelate",
    "brightness",
    "contrast",
    "gamma",
    "stain_bubble",
)
# corruptions that only make sense for some modalities (others apply to every modality)
MODALITY_ONLY = {"stain_bubble": ("pathology",)}

_PARAMS = {
    "gaussian_noise": (0.04, 0.08, 0.12, 0.18, 0.26),  # std on [0, 1]
    "speckle_noise": (0.10, 0.20, 0.30, 0.45, 0.60),  # multiplicative std
    "gaussian_blur": (1.0, 1.5, 2.5, 3.5, 5.0),  # sigma (px at 224)
    "motion_blur": (5, 9, 13, 19, 27),  # kernel length (px at 224)
    "jpeg": (30, 20, 14, 10, 6),  # quality
    "pixelate": (0.6, 0.45, 0.33, 0.25, 0.18),  # downscale factor
    "brightness": (0.08, 0.16, 0.26, 0.38, 0.50),  # added intensity on [0, 1]
    "contrast": (0.65, 0.5, 0.35, 0.22, 0.12),  # contrast factor around the mean
    "gamma": (1.3, 1.6, 2.0, 2.6, 3.3),  # exponent on [0, 1]
    "stain_bubble": (0.08, 0.16, 0.25, 0.35, 0.45),  # stain jitter in optical density; bubbles = severity
}


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(name.encode())])


def _scale(img: np.ndarray) -> float:
    return max(min(img.shape[:2]) / 224.0, 0.4)  # floor: keep severity 1 visible on tiny images


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _motion_kernel(length: int, angle: float) -> np.ndarray:
    length = max(2, int(round(length)))
    k = np.zeros((length, length), dtype=np.float64)
    c = (length - 1) / 2.0
    t = np.linspace(-c, c, 4 * length)
    xs = np.clip(np.round(c + t * np.cos(angle)).astype(int), 0, length - 1)
    ys = np.clip(np.round(c + t * np.sin(angle)).astype(int), 0, length - 1)
    k[ys, xs] = 1.0
    return k / k.sum()


def _stain_bubble(x: np.ndarray, p: float, severity: int, rng: np.random.Generator) -> np.ndarray:
    """H&E stain variation (per-channel optical-density scale and shift) plus ``severity`` air bubbles."""
    scale = rng.uniform(-1.0, 1.0, size=3)
    shift = rng.uniform(-1.0, 1.0, size=3)
    od = -np.log(np.clip(x, 1.0 / 255.0, 1.0))
    x = np.exp(-(od * (1.0 + p * scale) + 0.5 * p * shift))
    h, w = x.shape[:2]
    centers = rng.uniform(0, 1, size=(5, 2)) * [h, w]
    radii = rng.uniform(0.08, 0.2, size=5) * min(h, w)
    yy, xx = np.mgrid[0:h, 0:w]
    rim = max(1.0, 0.012 * min(h, w))
    for (cy, cx), r in list(zip(centers, radii))[:severity]:
        d = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
        inside = d < r - rim
        ring = (d >= r - rim) & (d < r + rim)
        x[inside] = 0.55 * x[inside] + 0.45 * 0.97  # glassy, washed-out interior
        x[ring] = 0.35 * x[ring]  # dark refractive rim
    return x


def corrupt(img: np.ndarray, name: str, severity: int, seed: int = 0) -> np.ndarray:
    """Corrupt a uint8 image (``HxW`` or ``HxWxC``) with corruption ``name`` at ``severity`` 1-5.

    Raises:
        ValueError: unknown corruption name, severity outside 1-5 or a non-uint8 image.
    """
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; choose from {', '.join(CORRUPTIONS)}")
    if not isinstance(severity, (int, np.integer)) or not 1 <= severity <= 5:
        raise ValueError(f"severity must be an integer 1-5, got {severity!r}")
    img = np.asarray(img)
    if img.dtype != np.uint8 or img.ndim not in (2, 3):
        raise ValueError(f"expected a uint8 HxW or HxWxC array, got {img.dtype} {img.shape}")
    gray = img.ndim == 2
    x = (img[:, :, None] if gray else img).astype(np.float64) / 255.0
    p = _PARAMS[name][severity - 1]
    rng = _rng(seed, name)
    if name == "gaussian_noise":
        x = x + p * rng.standard_normal(x.shape[:2])[:, :, None]
    elif name == "speckle_noise":
        x = x * (1.0 + p * rng.standard_normal(x.shape[:2])[:, :, None])
    elif name == "gaussian_blur":
        x = ndimage.gaussian_filter(x, sigma=(p * _scale(x), p * _scale(x), 0), mode="reflect")
    elif name == "motion_blur":
        k = _motion_kernel(p * _scale(x), rng.uniform(0, np.pi))
        x = np.stack([ndimage.convolve(x[:, :, c], k, mode="reflect") for c in range(x.shape[2])], axis=2)
    elif name == "jpeg":
        buf = io.BytesIO()
        pil = Image.fromarray(_to_uint8(x[:, :, 0] if x.shape[2] == 1 else x))
        pil.save(buf, format="JPEG", quality=int(p))
        out = np.asarray(Image.open(buf)).astype(np.float64) / 255.0
        x = out[:, :, None] if out.ndim == 2 else out
    elif name == "pixelate":
        h, w = x.shape[:2]
        small = (max(1, int(w * p)), max(1, int(h * p)))
        u8 = _to_uint8(x[:, :, 0] if x.shape[2] == 1 else x)
        out = np.asarray(Image.fromarray(u8).resize(small, Image.BOX).resize((w, h), Image.NEAREST))
        x = (out[:, :, None] if out.ndim == 2 else out).astype(np.float64) / 255.0
    elif name == "brightness":
        x = x + p
    elif name == "contrast":
        x = (x - x.mean()) * p + x.mean()
    elif name == "gamma":
        x = np.clip(x, 0.0, 1.0) ** p
    elif name == "stain_bubble":
        if x.shape[2] == 1:
            x = np.repeat(x, 3, axis=2)
        x = _stain_bubble(x, p, severity, rng)
        if img.ndim == 3 and img.shape[2] == 1:
            x = x.mean(2, keepdims=True)
    out = _to_uint8(x)
    if gray:
        return out.mean(2).round().astype(np.uint8) if out.shape[2] == 3 else out[:, :, 0]
    return out
