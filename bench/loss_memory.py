"""Peak memory of the contrastive losses per rank vs the global batch, gathered vs chunked (CPU, gloo).

    python bench/loss_memory.py [--world-size 4] [--batches 256,1024,4096] [--dim 256]

Spawns ``--world-size`` gloo processes; on each, one forward + backward of the loss over random unit-norm
features (``global batch / world size`` rows per rank), inside ``torch.distributed._tools.mem_tracker.MemTracker``:
a dispatch mode that adds up the bytes of every live tensor storage created in its context (features, gathered
copies, logits, autograd-saved tensors, gradients) and records the peak. That is the figure a GPU's caching
allocator would report as ``max_memory_allocated`` for the same ops (minus allocator rounding); process RSS
(``tracemalloc`` sees only Python objects, not tensor storage) would be dominated by the interpreter and libraries.

Losses: ``clip`` (InfoNCE, local loss + gathered features), ``clip-global`` (``local_loss=false``: every rank
builds the full ``B x B`` matrices), ``siglip`` (gathered texts, ``n x B`` logits) and ``siglip_chunked`` (ring
exchange, one ``n x n`` block at a time). Prints one line per (loss, batch) and the ratio lines with targets.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LOSSES = {
    "clip": ("clip", {"local_loss": True}),
    "clip-global": ("clip", {"local_loss": False}),
    "siglip": ("siglip", {}),
    "siglip_chunked": ("siglip_chunked", {}),
}


def _peak_bytes(name: str, opts: dict, rank: int, world: int, n: int, dim: int) -> int:
    import torch
    import torch.nn.functional as F
    from torch.distributed._tools.mem_tracker import MemTracker

    from medclip.losses import create_loss

    loss_fn = create_loss(name, rank=rank, world_size=world, **opts)
    g = torch.Generator().manual_seed(rank)
    raw_i, raw_t = torch.randn(n, dim, generator=g), torch.randn(n, dim, generator=g)
    mt = MemTracker()
    with mt:
        img = F.normalize(raw_i, dim=-1).requires_grad_(True)
        txt = F.normalize(raw_t, dim=-1).requires_grad_(True)
        scale = torch.tensor(10.0, requires_grad=True)
        bias = torch.tensor(-10.0, requires_grad=True)
        out = loss_fn(image_features=img, text_features=txt, logit_scale=scale, logit_bias=bias)
        out["contrastive_loss"].backward()
        del out
    snap = mt.get_tracker_snapshot("peak")
    return max(int(v.get("Total", 0)) for v in snap.values())


def _worker(rank: int, world: int, init: str, batches: list[int], dim: int, out: str) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=world)
    try:
        res = {}
        for b in batches:
            for label, (name, opts) in LOSSES.items():
                dist.barrier()
                res[(label, b)] = _peak_bytes(name, opts, rank, world, b // world, dim)
        torch.save(res, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def formula_bytes(label: str, batch: int, world: int, dim: int) -> int:
    """The dominant terms (float32) of the docs/training.md formulas, for comparison with the measurement."""
    n = batch // world
    feats = 4 * (2 * n * dim)  # the local features themselves
    if label == "clip":  # gathered img + txt; two n x B logit blocks with softmax and gradients (~4 copies)
        return feats + 4 * (2 * batch * dim + 4 * n * batch)
    if label == "clip-global":
        return feats + 4 * (2 * batch * dim + 4 * batch * batch)
    if label == "siglip":  # gathered txt; one n x B block: logits, signs, product, log-sigmoid, gradient
        return feats + 4 * (batch * dim + 5 * n * batch)
    return feats + 4 * (batch * dim + 5 * n * n)  # siglip_chunked: received text blocks + one n x n block


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world-size", type=int, default=4)
    ap.add_argument("--batches", default="256,1024,4096", help="global batch sizes (comma-separated)")
    ap.add_argument("--dim", type=int, default=256, help="embedding dimension")
    args = ap.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")]
    w = args.world_size
    if any(b % w for b in batches):
        ap.error("every global batch must be a multiple of --world-size")
    import torch
    import torch.multiprocessing as mp

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(_worker, args=(w, f"{tmp}/init", batches, args.dim, f"{tmp}/out"), nprocs=w, join=True)
        per_rank = [torch.load(f"{tmp}/out.{r}", weights_only=False) for r in range(w)]
    peak = {k: max(r[k] for r in per_rank) for k in per_rank[0]}
    mib = 2**20
    print(f"# peak tensor memory per rank (MiB), {w} gloo processes, D={args.dim}, float32, forward + backward")
    print(f"# {'loss':<15} " + " ".join(f"B={b:>6}" for b in batches) + "   (formula at the largest B)")
    for label in LOSSES:
        row = " ".join(f"{peak[(label, b)] / mib:8.2f}" for b in batches)
        print(f"# {label:<15} {row}   ({formula_bytes(label, batches[-1], w, args.dim) / mib:.2f})")
    for label in LOSSES:
        for b in batches:
            print(f"peak_mib[{label},B={b},W={w}]: {peak[(label, b)] / mib:.3f}")
    big = batches[-1]
    r_sig = peak[("siglip_chunked", big)] / peak[("siglip", big)]
    r_clip = peak[("clip", big)] / peak[("clip-global", big)]
    # chunked: the n x B logits shrink to n x n (1/W) plus the W n x D text blocks both keep
    print(f"siglip_chunked_over_gathered_peak[B={big},W={w}]: {r_sig:.3f} (target <= 0.5)")
    print(f"clip_local_over_global_peak[B={big},W={w}]: {r_clip:.3f} (target <= 0.5)")
    return 0 if r_sig <= 0.5 and r_clip <= 0.5 else 1


if __name__ == "__main__":
    sys.exit(main())
