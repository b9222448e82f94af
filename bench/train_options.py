"""Training-step cost of model.grad_checkpointing, model.compile and data.channels_last, each on vs off.

    python bench/train_options.py                   # medclip-small (ViT 4x128 + MiniLM-L6), batch 32, CPU
    python bench/train_options.py --tiny --steps 3  # medclip-tiny, a smoke run

Every variant builds the same model from the same seed and trains ``--warmup`` + ``--steps`` AdamW steps of
the symmetric InfoNCE loss on one fixed synthetic batch (``--device``, default cpu). Reported:

- grad checkpointing: activation bytes kept for backward (unique storages seen by autograd's saved-tensor
  hooks over one forward: the part of peak memory checkpointing removes) and the step-time cost;
- compile, channels-last: steps/s on vs off (the compile time of the first step is printed separately).

``target`` is the bar for keeping an option on by default; the defaults in medclip/train/config.py follow it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from medclip.models import create_model  # noqa: E402
from medclip.models.train_options import compile_towers, enable_grad_checkpointing, use_channels_last  # noqa: E402


def build(args, *, gc=False, compiled=False, cl=False):
    torch.manual_seed(0)
    model, _, tok = create_model(args.model, pretrained_text=False, device=args.device)
    model.train()
    if gc:
        enable_grad_checkpointing(model)
    if cl:
        use_channels_last(model)
    if compiled:
        compile_towers(model)
    size = model.visual.image_size
    size = int(size[0] if isinstance(size, (tuple, list)) else size)
    g = torch.Generator().manual_seed(1)
    images = torch.randn(args.batch, 3, size, size, generator=g).to(args.device)
    tokens = tok([f"frontal chest radiograph {i}, finding {i % 7}" for i in range(args.batch)]).to(args.device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    return model, opt, images, tokens


def loss_of(model, images, tokens):
    img = F.normalize(model.encode_image(images), dim=-1)
    txt = F.normalize(model.encode_text(tokens), dim=-1)
    logits = model.logit_scale.exp() * img @ txt.T
    labels = torch.arange(len(images), device=images.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def step(model, opt, images, tokens):
    opt.zero_grad(set_to_none=True)
    loss = loss_of(model, images, tokens)
    loss.backward()
    opt.step()
    return loss.item()


def saved_activation_bytes(model, images, tokens) -> int:
    """Bytes of the distinct storages autograd keeps for backward over one forward (parameters excluded)."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t):
        s = t.untyped_storage()
        if s.data_ptr() not in params:
            seen[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = loss_of(model, images, tokens)
    loss.backward()
    model.zero_grad(set_to_none=True)
    return sum(seen.values())


def timed(args, variants: dict[str, dict]) -> tuple[dict[str, float], dict[str, float]]:
    """Steps/s (best of --rounds, rounds interleaved over the variants) and first-step seconds per variant.

    Interleaving keeps a change in the machine's load from landing on one variant only.
    """
    runs, first = {}, {}
    for name, opts in variants.items():
        model, opt, images, tokens = build(args, **opts)
        t0 = time.perf_counter()
        step(model, opt, images, tokens)
        first[name] = time.perf_counter() - t0
        for _ in range(args.warmup - 1):
            step(model, opt, images, tokens)
        runs[name] = (model, opt, images, tokens)
    best = dict.fromkeys(variants, 0.0)
    for _ in range(args.rounds):
        for name, r in runs.items():
            t0 = time.perf_counter()
            for _ in range(args.steps):
                step(*r)
            best[name] = max(best[name], args.steps / (time.perf_counter() - t0))
    return best, first


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="medclip-small")
    ap.add_argument("--tiny", action="store_true", help="medclip-tiny, batch 8 (smoke run)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip-compile", action="store_true")
    args = ap.parse_args(argv)
    if args.tiny:
        args.model, args.batch = "medclip-tiny", 8
    threads = torch.get_num_threads()
    print(f"# {args.model}, batch {args.batch}, {args.device}, {threads} threads, torch {torch.__version__}")

    m, _, im, tk = build(args)
    act_off = saved_activation_bytes(m, im, tk)
    m, _, im, tk = build(args, gc=True)
    act_on = saved_activation_bytes(m, im, tk)
    variants = {"off": {}, "gc": {"gc": True}, "cl": {"cl": True}}
    if not args.skip_compile:
        variants["compile"] = {"compiled": True}
    sps, first = timed(args, variants)
    base = sps["off"]
    print(f"grad_checkpointing_activation_mb_off: {act_off / 2**20:.2f}")
    print(f"grad_checkpointing_activation_mb_on: {act_on / 2**20:.2f}")
    print(f"grad_checkpointing_activation_ratio: {act_on / act_off:.3f} (target <= 0.6)")
    print(f"grad_checkpointing_step_speed_ratio: {sps['gc'] / base:.3f} (target >= 0.6)")
    print(f"steps_per_s_baseline: {base:.2f}")
    print(f"channels_last_speedup: {sps['cl'] / base:.3f} (target >= 1.05 to be on by default)")
    if not args.skip_compile:
        print(f"compile_first_step_s: {first['compile']:.1f}")
        print(f"compile_speedup: {sps['compile'] / base:.3f} (target >= 1.1 to be on by default)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
