"""Per-sample seeded training transform: random resized crop (+ optional flip) to uint8 tensors.

Randomness comes from a ``random.Random`` the loader seeds from (seed, epoch, sample key), so a sample's
view is the same whichever rank or worker reads it: DDP runs, resumed runs and single-process runs see
identical pixels. Normalization (mean/std) happens after the device copy (uint8 travels between processes).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image


@dataclass
class AugConfig:
    """Training augmentation."""

    scale_min: float = 0.9  # RandomResizedCrop area fraction range (UniMed: 0.9-1.0)
    scale_max: float = 1.0
    ratio_min: float = 3 / 4  # aspect ratio range of the crop
    ratio_max: float = 4 / 3
    hflip: float = 0.0  # probability of a horizontal flip (off for medical images by default)

    def validate(self) -> None:
        from ..config import ConfigError

        if not 0 < self.scale_min <= self.scale_max <= 1:
            raise ConfigError("data.aug: need 0 < scale_min <= scale_max <= 1")


def crop_box(w: int, h: int, aug: AugConfig, rng: random.Random) -> tuple[float, float, float, float]:
    """A RandomResizedCrop box ``(left, top, right, bottom)`` drawn with ``rng``."""
    area = w * h
    log_r = (math.log(aug.ratio_min), math.log(aug.ratio_max))
    for _ in range(10):
        target = area * rng.uniform(aug.scale_min, aug.scale_max)
        ratio = math.exp(rng.uniform(*log_r))
        cw, ch = math.sqrt(target * ratio), math.sqrt(target / ratio)
        if cw <= w and ch <= h:
            x0, y0 = rng.uniform(0, w - cw), rng.uniform(0, h - ch)
            return x0, y0, x0 + cw, y0 + ch
    side = min(w, h)  # fallback: centre square
    x0, y0 = (w - side) / 2, (h - side) / 2
    return x0, y0, x0 + side, y0 + side


def train_view(img: Image.Image, size: int, aug: AugConfig, rng: random.Random) -> torch.Tensor:
    """Random resized crop of ``img`` to ``size`` x ``size`` (bicubic), as a uint8 ``(3, size, size)`` tensor."""
    box = crop_box(img.width, img.height, aug, rng)
    out = img.resize((size, size), Image.BICUBIC, box=box)
    if aug.hflip > 0 and rng.random() < aug.hflip:
        out = out.transpose(Image.FLIP_LEFT_RIGHT)
    return torch.from_numpy(np.asarray(out, dtype=np.uint8).copy()).permute(2, 0, 1)


def normalize(images: torch.Tensor, mean, std) -> torch.Tensor:
    """uint8 ``(B, 3, H, W)`` -> float normalized with ``mean`` / ``std`` (on the tensor's device)."""
    m = torch.tensor(mean, device=images.device, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, device=images.device, dtype=torch.float32).view(1, -1, 1, 1)
    return (images.float().div_(255.0) - m) / s
