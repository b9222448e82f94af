"""GPU data path: JPEG bytes -> decoded, cropped, resized, normalised batch on the device.

The CPU path (``loader.py``: decode + augment in DataLoader workers, uint8 tensors to the device) is unchanged.
This path moves the two costly parts to the GPU: ``torchvision.io.decode_jpeg(..., device="cuda")``
(nvJPEG, one batched call) and the resize (``F.interpolate`` with antialias), followed by the same
normalisation as :func:`medclip.data.transforms.normalize`. Workers then only read tar members, and the
encoded bytes (5-20x smaller than decoded pixels) cross PCIe from pinned memory.

Everything here also runs on the CPU (``device="cpu"``: torchvision's libjpeg decoder), which is how it is
tested without a GPU; the CUDA-only test is marked and skipped where there is none.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def to_byte_tensors(blobs: Sequence[bytes], *, pin: bool = False) -> list[torch.Tensor]:
    """Encoded images as 1-d uint8 tensors (in pinned memory with ``pin`` for async host-to-device copies)."""
    out = []
    for b in blobs:
        t = torch.frombuffer(bytearray(b), dtype=torch.uint8)
        out.append(t.pin_memory() if pin else t)
    return out


def crop_boxes(
    sizes: Sequence[tuple[int, int]],
    *,
    scale: tuple[float, float] = (1.0, 1.0),
    generator: torch.Generator | None = None,
) -> list[tuple[int, int, int, int]]:
    """One square crop ``(top, left, h, w)`` per image of ``(height, width)``: area fraction drawn from ``scale``.

    ``scale=(1, 1)`` is the centre square (evaluation); a lower bound < 1 is a random-resized-crop style
    augmentation with a random position (square, as the towers take square inputs).
    """
    boxes = []
    for h, w in sizes:
        side_max = min(h, w)
        lo, hi = scale
        frac = lo + (hi - lo) * float(torch.rand((), generator=generator)) if hi > lo else hi
        side = max(1, int(round(side_max * frac**0.5)))
        if lo == hi == 1.0:
            top, left = (h - side) // 2, (w - side) // 2
        else:
            top = int(torch.randint(0, h - side + 1, (), generator=generator))
            left = int(torch.randint(0, w - side + 1, (), generator=generator))
        boxes.append((top, left, side, side))
    return boxes


def decode_resize_normalize(
    blobs: Sequence[torch.Tensor],
    *,
    size: int,
    mean: Sequence[float],
    std: Sequence[float],
    device: str | torch.device = "cuda",
    scale: tuple[float, float] = (1.0, 1.0),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Decode JPEGs on ``device``, crop, resize to ``size`` x ``size`` and normalise: ``(B, 3, size, size)`` float.

    Args:
        blobs: encoded JPEGs as 1-d uint8 tensors (CPU, ideally pinned: :func:`to_byte_tensors`).
        size: output side in pixels.
        mean, std: per-channel normalisation of the model's preprocessing.
        device: where decoding and resizing run (``cuda``: nvJPEG; ``cpu``: libjpeg).
        scale: crop area fraction range (see :func:`crop_boxes`).
        generator: CPU generator for the crop draws (reproducible augmentation).
    """
    from torchvision.io import ImageReadMode, decode_jpeg

    device = torch.device(device)
    imgs = decode_jpeg(list(blobs), mode=ImageReadMode.RGB, device=device)
    boxes = crop_boxes([tuple(i.shape[-2:]) for i in imgs], scale=scale, generator=generator)
    out = torch.empty(len(imgs), 3, size, size, device=device)
    for k, (img, (t, l, h, w)) in enumerate(zip(imgs, boxes)):
        crop = img[:, t : t + h, l : l + w].unsqueeze(0).float()
        out[k] = F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]
    m = torch.tensor(mean, device=device).view(1, 3, 1, 1) * 255.0
    s = torch.tensor(std, device=device).view(1, 3, 1, 1) * 255.0
    return (out - m) / s


__all__ = ["crop_boxes", "decode_resize_normalize", "to_byte_tensors"]
