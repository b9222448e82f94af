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

import io
import random
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


# -- the trainer's path (data.gpu_decode: true) ---------------------------------------------------------------


def jpeg_view(data: bytes, aug, rng: random.Random) -> dict:
    """Worker side: the crop box and flip of a JPEG drawn exactly as the CPU path draws them, without decoding.

    Only the header is read (for the size); ``rng`` advances as in :func:`medclip.data.transforms.train_view`,
    so a sample gets the same view (up to resampling) on either path. The box is in full-resolution pixels.
    """
    from PIL import Image

    from .transforms import crop_box

    with Image.open(io.BytesIO(data)) as im:
        w, h = im.size
    box = crop_box(w, h, aug, rng)
    flip = aug.hflip > 0 and rng.random() < aug.hflip
    return {"jpeg": torch.frombuffer(bytearray(data), dtype=torch.uint8), "box": box, "flip": flip}


def collate_images(examples: list[dict], size: int) -> dict:
    """Batch field(s) of the images: ``images`` (stacked uint8) on the CPU path, else ``gpu_views``.

    With ``data.gpu_decode`` a JPEG example carries ``jpeg`` / ``box`` / ``flip`` (:func:`jpeg_view`); other
    formats (PNG, 16-bit) were decoded in the worker as usual and travel as their uint8 view.
    """
    if all(e.get("image") is not None for e in examples):
        return {"images": torch.stack([e["image"] for e in examples])}
    data, boxes, flips = [], [], []
    for e in examples:
        if e.get("image") is not None:
            data.append(e["image"])
            boxes.append((0.0, 0.0, float(size), float(size)))
            flips.append(False)
        else:
            data.append(e["jpeg"])
            boxes.append(tuple(float(v) for v in e["box"]))
            flips.append(bool(e["flip"]))
    views = {"data": data, "boxes": torch.tensor(boxes, dtype=torch.float64), "flips": torch.tensor(flips)}
    return {"images": None, "gpu_views": {**views, "size": size}}


def decode_views(views: dict, *, device: torch.device, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Device side: decode the JPEGs (one batched ``decode_jpeg``), crop each box, bicubic-resize, flip, normalise."""
    from torchvision.io import ImageReadMode, decode_jpeg

    size, data = int(views["size"]), views["data"]
    jpeg_idx = [i for i, t in enumerate(data) if t.ndim == 1]
    decoded = decode_jpeg([data[i] for i in jpeg_idx], mode=ImageReadMode.RGB, device=device) if jpeg_idx else []
    imgs = [t.to(device, non_blocking=True) for t in data]
    for i, d in zip(jpeg_idx, decoded):
        imgs[i] = d
    out = torch.empty(len(imgs), 3, size, size, device=device)
    for k, img in enumerate(imgs):
        h, w = img.shape[-2:]
        x0, y0, x1, y1 = views["boxes"][k].tolist()
        l, t = max(0, int(round(x0))), max(0, int(round(y0)))
        r, b = min(w, max(l + 1, int(round(x1)))), min(h, max(t + 1, int(round(y1))))
        crop = img[:, t:b, l:r].unsqueeze(0).float()
        if crop.shape[-2:] != (size, size):
            crop = F.interpolate(crop, size=(size, size), mode="bicubic", antialias=True, align_corners=False)
        view = crop[0].clamp_(0, 255).round_()
        out[k] = view.flip(-1) if bool(views["flips"][k]) else view
    m = torch.tensor(mean, device=device).view(1, 3, 1, 1)
    s = torch.tensor(std, device=device).view(1, 3, 1, 1)
    return (out / 255.0 - m) / s


def device_images(batch: dict, device: torch.device, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """The normalised image batch on ``device`` from a loader batch of either path."""
    if batch.get("gpu_views") is not None:
        return decode_views(batch["gpu_views"], device=device, mean=mean, std=std)
    from .transforms import normalize

    return normalize(batch["images"].to(device, non_blocking=True), mean, std)


__all__ = [
    "collate_images",
    "crop_boxes",
    "decode_resize_normalize",
    "decode_views",
    "device_images",
    "jpeg_view",
    "to_byte_tensors",
]
