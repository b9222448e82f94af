"""Image decoding, canonical pixel hashing and deterministic encoding for shards.

The eval-hygiene identity of an image is :func:`pixel_sha256`: the sha256 of its decoded 8-bit pixels,
row-major, as a grayscale (HxW) or RGB (HxWx3) uint8 array. It does not depend on the file container
(the same pixels stored as PNG or lossless TIFF hash the same), so evaluation suites can build exclusion lists
from their own files with this function.
"""

from __future__ import annotations

import hashlib
import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from medclip.imaging.window import window_to_uint8

from .sources.base import Loaded, SkipError

__all__ = ["window_to_uint8"]  # re-exported: the shared implementation is medclip.imaging.window
WEB_FORMATS = {"JPEG": "jpg", "PNG": "png"}


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Canonical uint8 pixels: HxW stays grayscale, HxWx1 squeezed, HxWx3 RGB, HxWx4 drops alpha."""
    a = np.asarray(pixels)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 3 and a.shape[2] == 4:
        a = a[..., :3]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3):
        raise SkipError("unsupported", f"pixel array of shape {a.shape}")
    if a.dtype != np.uint8:
        a = window_to_uint8(a.astype(np.float64), float(np.min(a)), float(np.max(a)))
    return np.ascontiguousarray(a)


def pixel_sha256(pixels: np.ndarray | Image.Image) -> str:
    """sha256 of canonical uint8 pixels (see module docstring)."""
    if isinstance(pixels, Image.Image):
        pixels = pil_to_array(pixels)
    return hashlib.sha256(to_uint8(pixels).tobytes()).hexdigest()


def pil_to_array(img: Image.Image) -> np.ndarray:
    """Decoded PIL image -> canonical uint8 array (16-bit and float images are min-max scaled)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return to_uint8(np.asarray(img))
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("1", "L", "LA"):
        img = img.convert("L")
    elif img.mode != "RGB":
        img = img.convert("RGB")
    return to_uint8(np.asarray(img))


def decode_bytes(data: bytes) -> Loaded:
    """Decode an encoded image file; keeps the bytes for ``image.format: original`` when jpg/png."""
    if not data:
        raise SkipError("zero_size", "empty file")
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            fmt = WEB_FORMATS.get(img.format or "")
            arr = pil_to_array(img)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise SkipError("unreadable", type(e).__name__) from None
    return Loaded(pixels=arr, data=data if fmt else None, ext=fmt)


def resize_max_side(pixels: np.ndarray, max_side: int) -> np.ndarray:
    """Downscale (never upscale) so that the longer side is ``max_side``; deterministic (PIL, bicubic)."""
    h, w = pixels.shape[:2]
    if max_side <= 0 or max(h, w) <= max_side:
        return pixels
    s = max_side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return np.asarray(Image.fromarray(pixels).resize(size, Image.BICUBIC, reducing_gap=None))


def encode(pixels: np.ndarray, fmt: str, *, quality: int = 90) -> bytes:
    """Encode uint8 pixels as ``jpg`` or ``png`` deterministically (no metadata, fixed settings)."""
    img = Image.fromarray(pixels)
    buf = io.BytesIO()
    if fmt == "jpg":
        img.save(buf, format="JPEG", quality=quality, optimize=False, progressive=False, subsampling=0)
    elif fmt == "png":
        img.save(buf, format="PNG", compress_level=6, optimize=False)
    else:
        raise ValueError(f"unknown image format {fmt!r}")
    return buf.getvalue()


def decode_shard_image(data: bytes) -> np.ndarray:
    """Decode an image member of a shard to canonical uint8 pixels (raises on corrupt data)."""
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return pil_to_array(img)
