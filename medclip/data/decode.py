"""Image decoding for training: reduced-size JPEG decode and explicit handling of 16-bit images.

``pilrgb``-style decoding (``Image.convert("RGB")``) clips 16-bit PNG X-rays to their lowest 8 bits'
range; here high-bit-depth images are either refused (``error``, the default, which the shard check
reports before training) or rescaled to 8 bits (``minmax`` per image, or ``shift`` = drop the low 8 bits).
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

IMAGE_EXTS = ("jpg", "jpeg", "png", "webp", "tif", "tiff", "bmp")
HIGH_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
HIGH_BIT_POLICIES = ("error", "minmax", "shift")


def image_member(sample: dict) -> str | None:
    """The image extension present in a raw sample (``jpg``, ``png`` ...), or None."""
    for ext in IMAGE_EXTS:
        if ext in sample:
            return ext
    return None


def is_high_bit(img: Image.Image) -> bool:
    """True when the PIL image stores more than 8 bits per channel."""
    return img.mode in HIGH_BIT_MODES


def to_8bit(img: Image.Image, policy: str) -> Image.Image:
    """Convert a 16-bit / 32-bit single-channel image to 8-bit ``L`` without clipping."""
    if policy == "error":
        raise ValueError(f"{img.mode} image (more than 8 bits); set data.high_bit_depth=minmax or shift")
    arr = np.asarray(img, dtype=np.float32)
    if policy == "shift":
        out = np.clip(arr / 256.0, 0, 255)
    else:
        lo, hi = float(arr.min()), float(arr.max())
        out = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
    return Image.fromarray(np.round(out).astype(np.uint8), mode="L")


def decode_image(
    data: bytes, *, target_size: int | None = None, draft: bool = True, high_bit_depth: str = "error"
) -> Image.Image:
    """Decode image bytes to an RGB PIL image.

    Args:
        data: encoded bytes.
        target_size: training resolution; a JPEG at least twice as large is decoded at a reduced DCT scale
            (PIL ``draft``) so that its shorter side stays >= ``target_size`` — much faster for 1024 px
            sources trained at 224.
        draft: enable the reduced-size JPEG decode.
        high_bit_depth: ``error`` | ``minmax`` | ``shift`` for images with more than 8 bits.
    """
    img = Image.open(io.BytesIO(data))
    if draft and target_size and img.format == "JPEG" and min(img.size) >= 2 * target_size:
        w, h = img.size
        s = target_size / min(w, h)
        img.draft("RGB" if img.mode == "RGB" else img.mode, (math.ceil(w * s), math.ceil(h * s)))
    img.load()
    if is_high_bit(img):
        img = to_8bit(img, high_bit_depth)
    return img.convert("RGB") if img.mode != "RGB" else img
