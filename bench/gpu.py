"""Training throughput and MFU of a ViT-B/16 + BERT-base-sized CLIP at 224 px, ready for an NVIDIA GPU.

    python bench/gpu.py                          # GPU: bf16, fused AdamW, compile off/on, DDP/FSDP2, data modes
    python bench/gpu.py --device cpu --tiny      # the CPU smoke run the test suite executes

The model is built offline with random weights: open_clip's ViT-B/16 image tower (12 x 768, MLP 3072, 197
tokens) and a text transformer of BERT-base's size (12 x 768, MLP 3072, ``--context`` tokens, default 77;
BiomedBERT runs 256). ``--tiny`` swaps in 64 px / 2 x 64 towers so the CPU run takes seconds.

Every combination of ``--compile`` x ``--strategy`` x ``--data`` is trained for ``--warmup`` + ``--steps`` steps
on one device (DDP and FSDP2 over a 1-rank process group, so the wrappers' own overheads are in the figure):

- ``synthetic``: uint8 images / tokens already on the device (pure compute);
- ``shards``: the trainer's own loader (:func:`medclip.train.setup.build_loader`) on real webdataset shards
  (``--shards``, default: JPEG shards written to a temp folder at 2x the model resolution), pinned memory;
- ``gpu-decode``: the same loader with ``data.gpu_decode`` (workers read tar members and JPEG headers only;
  decode / crop / resize / normalise on the device: :mod:`medclip.data.gpu_decode`).

Per combination it prints samples/s, MFU (``medclip.train.flops``; peak from the GPU table or
``--peak-tflops``), peak memory (CUDA: ``max_memory_allocated``; CPU: process max RSS, which is cumulative) and
the data-wait fraction (time blocked on the next batch / step time), then the targets for one H100/H200:
MFU >= 0.40 with the data pipeline included, and real-shard / synthetic throughput >= 0.95.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import resource
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

B16 = {
    "embed_dim": 512,
    "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "head_width": 64, "mlp_ratio": 4.0, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 768, "heads": 12, "layers": 12, "mlp_ratio": 4.0},
}
TINY = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32, "mlp_ratio": 2.0, "patch_size": 16},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2, "mlp_ratio": 2.0},
}
MEAN, STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


def write_shards(folder: Path, n: int, px: int, shards: int = 4) -> Path:
    """JPEG shards in the medclip format (``.jpg`` + ``.txt`` + ``.json``) with ``sizes.json``."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    sizes, per = {}, -(-n // shards)
    for s in range(shards):
        name = f"bench-{s:06d}.tar"
        idx = range(s * per, min(n, (s + 1) * per))
        with tarfile.open(folder / name, "w") as tar:
            for i in idx:
                arr = (rng.random((px, px, 3)) * 64 + np.linspace(0, 190, px)[None, :, None]).astype(np.uint8)
                buf = io.BytesIO()
                Image.fromarray(arr).save(buf, format="JPEG", quality=90)
                cap = f"a synthetic radiograph number {i}"
                meta = {"key": f"b{i:08d}", "captions": [cap], "caption_kinds": ["synthetic"], "labels": [str(i % 5)]}
                for ext, data in (("jpg", buf.getvalue()), ("txt", cap.encode()), ("json", json.dumps(meta).encode())):
                    info = tarfile.TarInfo(f"b{i:08d}.{ext}")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
        sizes[name] = len(idx)
    (folder / "sizes.json").write_text(json.dumps(sizes))
    return folder


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def synthetic_batches(n_batches: int, batch: int, px: int, ctx: int, device: torch.device):
    g = torch.Generator().manual_seed(0)
    pool = [
        {
            "images": torch.randint(0, 256, (batch, 3, px, px), dtype=torch.uint8, generator=g).to(device),
            "tokens": torch.randint(1, 49000, (batch, ctx), generator=g).to(device),
            "label_ids": torch.arange(batch, device=device),
        }
        for _ in range(min(n_batches, 4))
    ]
    for i in range(n_batches):
        yield pool[i % len(pool)]


def shard_batches(shards: Path, cfg, tokenizer, px: int, n_batches: int, device: torch.device):
    """The trainer's loader over ``shards`` (decode + augment in workers, pinned-memory transfer)."""
    from medclip.train.distributed import DistEnv
    from medclip.train.setup import Plan, build_loader

    urls = [[str(p) for p in sorted(shards.glob("*.tar"))]]
    n = sum(json.loads((shards / "sizes.json").read_text()).values())
    spe = max(1, n // cfg.data.batch_size)
    plan = Plan(n, cfg.data.batch_size, spe, n_batches, -(-n_batches // spe), "shard")
    loader = build_loader(cfg, DistEnv(device=device), plan, urls, [1.0], px, tokenizer)
    epoch = 0
    while True:
        for b in loader.batches(epoch):
            yield {k: b.get(k) for k in ("images", "gpu_views", "tokens", "label_ids")}
        epoch += 1


def run_one(args, *, compiled: bool, strategy: str, data: str, shards: Path | None) -> dict:
    from medclip.data.gpu_decode import device_images
    from medclip.losses import create_loss
    from medclip.models import create_model
    from medclip.train.config import TrainConfig
    from medclip.train.flops import tflops_and_mfu
    from medclip.train.fsdp import _ensure_group, shard_module
    from medclip.train.module import ContrastiveModule
    from medclip.train.optim import build_optimizer
    from medclip.train.step import forward_backward

    device = torch.device(args.device)
    _ensure_group(device)
    torch.manual_seed(0)
    model, _, tokenizer = create_model(args.model_name, device=device)
    model.train()
    if args.grad_checkpointing:
        model.set_grad_checkpointing(True)
    cfg = TrainConfig(precision=args.precision)
    cfg.model.name = args.model_name
    cfg.peak_flops = args.peak_tflops * 1e12 if args.peak_tflops else None
    cfg.data.batch_size, cfg.data.workers, cfg.data.check = args.batch_size, args.workers, False
    cfg.data.shuffle_buffer = 0
    cfg.optim.fused = True if device.type == "cuda" else None
    module = ContrastiveModule(model)
    if strategy == "fsdp":
        shard_module(module, device=device, param_dtype="bf16" if args.precision == "bf16" else None)
        tmod = module
    optimizer = build_optimizer(model, cfg.optim, device.type)
    if strategy == "ddp":
        from torch.nn.parallel import DistributedDataParallel as DDP

        tmod = DDP(module, device_ids=[device.index] if device.type == "cuda" else None)
    if compiled:
        tmod = torch.compile(tmod)
    loss_fn = create_loss("clip")
    px, ctx = args.px, args.ctx
    total = args.warmup + args.steps
    if data == "synthetic":
        src = synthetic_batches(total, args.batch_size, px, ctx, device)
    else:  # the trainer's loader; gpu-decode: data.gpu_decode (JPEG bytes to the device, decoded there)
        cfg.data.gpu_decode = data == "gpu-decode"
        src = shard_batches(shards, cfg, tokenizer, px, total, device)
    use_bf16 = args.precision == "bf16" and strategy != "fsdp"  # FSDP2: bf16 through its MixedPrecisionPolicy

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    wait = 0.0
    for i in range(total):
        if i == args.warmup:
            _sync(device)
            t_start, wait = time.perf_counter(), 0.0
        t0 = time.perf_counter()
        b = next(src)
        imgs = device_images(b, device, MEAN, STD)
        x = {
            "images": imgs,
            "tokens": b["tokens"].to(device, non_blocking=True),
            "text_cached": None,
            "label_ids": b["label_ids"].to(device),
        }
        wait += time.perf_counter() - t0
        optimizer.zero_grad(set_to_none=True)
        forward_backward(tmod, loss_fn, [x], autocast=autocast)
        optimizer.step()
    _sync(device)
    elapsed = time.perf_counter() - t_start
    sps = args.steps * args.batch_size / elapsed
    fields = tflops_and_mfu(sps, model, cfg)
    if device.type == "cuda":
        peak_mib = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"samples_per_s": sps, "mfu": fields.get("mfu"), "tflops": fields.get("tflops_per_device"),
            "peak_mib": peak_mib, "data_wait_frac": wait / elapsed}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tiny", action="store_true", help="64 px, 2 x 64 towers (CPU smoke run)")
    ap.add_argument("--batch-size", type=int, default=None, help="default 256 (GPU) / 8 (--tiny)")
    ap.add_argument("--steps", type=int, default=None, help="measured steps (default 30 / 2 with --tiny)")
    ap.add_argument("--warmup", type=int, default=None, help="unmeasured steps first (default 10 / 1)")
    ap.add_argument("--precision", default="bf16", choices=["bf16", "fp32"])
    ap.add_argument("--compile", default=None, help="comma list of off,on (default off,on; off with --tiny)")
    ap.add_argument("--strategy", default="ddp,fsdp", help="comma list of ddp,fsdp")
    ap.add_argument("--data", default="synthetic,shards,gpu-decode", help="comma list of synthetic,shards,gpu-decode")
    ap.add_argument("--shards", type=Path, default=None, help="shard folder (default: written to a temp folder)")
    ap.add_argument("--workers", type=int, default=None, help="loader workers (default 8 / 0 with --tiny)")
    ap.add_argument("--context", type=int, default=77, help="text tokens (BERT-base-sized tower)")
    ap.add_argument("--grad-checkpointing", action="store_true")
    ap.add_argument("--peak-tflops", type=float, default=None, help="peak dense TFLOP/s per device (MFU)")
    args = ap.parse_args(argv)
    t = args.tiny
    args.batch_size = args.batch_size or (8 if t else 256)
    args.steps = args.steps or (2 if t else 30)
    args.warmup = args.warmup if args.warmup is not None else (1 if t else 10)
    args.workers = args.workers if args.workers is not None else (0 if t else 8)
    comp = (args.compile or ("off" if t else "off,on")).split(",")
    from medclip.models import register_model_config

    arch = json.loads(json.dumps(TINY if t else B16))
    if not t:
        arch["text_cfg"]["context_length"] = args.context
    args.model_name = "bench-tiny" if t else "bench-vit-b16-bertbase"
    register_model_config(args.model_name, arch)
    args.px, args.ctx = arch["vision_cfg"]["image_size"], arch["text_cfg"]["context_length"]
    datas = args.data.split(",")
    print(f"# device {args.device} ({torch.cuda.get_device_name() if args.device.startswith('cuda') else 'cpu'}), "
          f"model {args.model_name}, batch {args.batch_size}, {args.precision}, steps {args.steps}")  # fmt: skip
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        shards = args.shards
        if shards is None and any(d != "synthetic" for d in datas):
            n = args.batch_size * (args.warmup + args.steps + 2)
            shards = write_shards(Path(tmp) / "shards", n, 2 * args.px)
        for c in comp:
            for s in args.strategy.split(","):
                for d in datas:
                    r = run_one(args, compiled=c == "on", strategy=s, data=d, shards=shards)
                    results[(c, s, d)] = r
                    tag = f"compile={c},strategy={s},data={d}"
                    mfu = "n/a (no peak FLOP/s for this device)" if r["mfu"] is None else f"{r['mfu']:.4f}"
                    print(f"samples_per_s[{tag}]: {r['samples_per_s']:.2f}")
                    print(f"tflops_per_device[{tag}]: {r['tflops']:.6f}")
                    print(f"mfu[{tag}]: {mfu}" + (" (target >= 0.40)" if d != "synthetic" else ""))
                    print(f"peak_memory_mib[{tag}]: {r['peak_mib']:.1f}")
                    print(f"data_wait_frac[{tag}]: {r['data_wait_frac']:.3f}")
    for (c, s, d), r in results.items():
        syn = results.get((c, s, "synthetic"))
        if d != "synthetic" and syn:
            ratio = r["samples_per_s"] / syn["samples_per_s"]
            print(f"data_over_synthetic[compile={c},strategy={s},data={d}]: {ratio:.3f} (target >= 0.95)")
    with contextlib.suppress(Exception):
        torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
