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


def _loader_batch(shards, *, gpu: bool, hflip: float = 0.0, fmt_png: bool = False):
    from medclip.train.config import TrainConfig
    from medclip.train.distributed import DistEnv
    from medclip.train.setup import Plan, build_loader

    cfg = TrainConfig()
    cfg.data.batch_size, cfg.data.workers, cfg.data.shuffle_buffer, cfg.data.check = 6, 0, 0, False
    cfg.data.gpu_decode, cfg.data.aug.scale_min, cfg.data.aug.hflip = gpu, 0.5, hflip
    urls = [[str(p) for p in sorted(shards.glob("*.tar"))]]
    plan = Plan(12, 6, 2, 2, 1, "sample")
    loader = build_loader(cfg, DistEnv(), plan, urls, [1.0], 64, None)
    return next(loader.batches(0))


def test_trainer_gpu_decode_path_gives_the_cpu_path_views(tmp_path):
    from shard_fixtures import write_shards

    from medclip.data.gpu_decode import device_images

    shards = write_shards(tmp_path / "s", n=12, shards=1, size=96)  # 96 px JPEGs -> random crops -> 64 px
    for hflip in (0.0, 1.0):
        cpu = _loader_batch(shards, gpu=False, hflip=hflip)
        gpu = _loader_batch(shards, gpu=True, hflip=hflip)
        assert "gpu_views" not in cpu and cpu["images"].dtype == torch.uint8
        assert gpu["images"] is None and all(t.ndim == 1 for t in gpu["gpu_views"]["data"])  # JPEG bytes
        assert gpu["keys"] == cpu["keys"] and gpu["texts"] == cpu["texts"]  # same samples, same captions
        a = device_images(cpu, torch.device("cpu"), MEAN, STD)
        b = device_images(gpu, torch.device("cpu"), MEAN, STD)
        assert a.shape == b.shape == (6, 3, 64, 64)
        # same crop boxes and flips (same RNG draws), different decoder + resampler: close, not equal
        print("mean abs difference", float((a - b).abs().mean()))
        assert (a - b).abs().mean() < 0.06, float((a - b).abs().mean())
        assert not torch.equal(a, b)


def test_trainer_gpu_decode_falls_back_to_worker_decoding_for_png(tmp_path):
    from shard_fixtures import write_shards

    from medclip.data.gpu_decode import device_images

    shards = write_shards(tmp_path / "s", n=12, shards=1, size=96, image_format="png")
    cpu, gpu = _loader_batch(shards, gpu=False), _loader_batch(shards, gpu=True)
    assert cpu["images"] is not None and gpu["images"] is not None  # no JPEG: the CPU path, unchanged
    assert torch.equal(
        device_images(cpu, torch.device("cpu"), MEAN, STD), device_images(gpu, torch.device("cpu"), MEAN, STD)
    )


def test_training_runs_with_data_gpu_decode(tmp_path):
    import json

    from shard_fixtures import write_shards

    from medclip.train import main

    shards = write_shards(tmp_path / "s", n=16, shards=2, size=96)
    args = ["model.name=medclip-tiny", f"data.train={shards}", "data.workers=0", "data.batch_size=4",
            "data.split_by=sample", "total_steps=2", "log_every_n_steps=1", f"run_dir={tmp_path / 'run'}",
            "progress=false", "tensorboard=false", "data.gpu_decode=true"]  # fmt: skip
    assert main(args) == 0
    rows = [r for r in map(json.loads, open(tmp_path / "run/metrics.jsonl")) if "loss" in r]
    assert len(rows) == 2 and all(np.isfinite(r["loss"]) for r in rows)
