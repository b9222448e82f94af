"""GPU data path (decode_jpeg + resize + normalise on the device), checked on CPU against PIL + normalize."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from medclip.data.gpu_decode import crop_boxes, decode_resize_normalize, to_byte_tensors
from medclip.data.transforms import normalize

MEAN, STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


def _jpegs(n=3, h=96, w=128):
    rng = np.random.default_rng(0)
    out, arrays = [], []
    for _ in range(n):
        yy, xx = np.mgrid[0:h, 0:w]
        a = np.stack([xx * 2 % 256, yy * 2 % 256, (xx + yy) % 256], -1).astype(np.uint8)
        a = np.clip(a.astype(int) + rng.integers(-3, 4, a.shape), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format="JPEG", quality=98)
        out.append(buf.getvalue())
        arrays.append(a)
    return out, arrays


def _reference(blob: bytes, size: int) -> torch.Tensor:
    """CPU path: PIL decode, centre square crop, PIL bilinear (antialiased) resize, then normalize()."""
    im = Image.open(io.BytesIO(blob)).convert("RGB")
    w, h = im.size
    s = min(w, h)
    im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)).resize((size, size), Image.BILINEAR)
    t = torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1)[None]
    return normalize(t, MEAN, STD)[0]


def test_decode_resize_normalize_matches_the_cpu_path():
    blobs, _ = _jpegs()
    got = decode_resize_normalize(to_byte_tensors(blobs), size=32, mean=MEAN, std=STD, device="cpu")
    assert got.shape == (3, 3, 32, 32) and got.dtype == torch.float32
    ref = torch.stack([_reference(b, 32) for b in blobs])
    # different decoders (libjpeg builds) and resamplers: a few grey levels apart, i.e. < 0.1 in normalised units
    assert (got - ref).abs().mean() < 0.03 and (got - ref).abs().max() < 0.35


def test_crops_are_centred_or_random_within_the_image_and_reproducible():
    assert crop_boxes([(96, 128)]) == [(0, 16, 96, 96)]
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a = crop_boxes([(96, 128)] * 20, scale=(0.4, 1.0), generator=g1)
    assert a == crop_boxes([(96, 128)] * 20, scale=(0.4, 1.0), generator=g2)
    for t, l, h, w in a:
        assert h == w and 0.4 * 96 * 96 - 96 <= h * w <= 96 * 96 and t + h <= 96 and l + w <= 128
    assert len(set(a)) > 10


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (nvJPEG)")
def test_cuda_decode_matches_cpu_decode():
    blobs, _ = _jpegs()
    cpu = decode_resize_normalize(to_byte_tensors(blobs), size=32, mean=MEAN, std=STD, device="cpu")
    gpu = decode_resize_normalize(to_byte_tensors(blobs, pin=True), size=32, mean=MEAN, std=STD, device="cuda")
    assert gpu.device.type == "cuda"
    assert (gpu.cpu() - cpu).abs().mean() < 0.03
