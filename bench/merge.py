"""Benchmark: T3 per-sample merging with the fast dual engine vs a plain forward and vs naive rebuilds.

Models: ``medclip-small`` (open_clip ViT 6x192 at 64 px + MiniLM text tower, 25.5M parameters) as the base
and a copy with every image-tower tensor perturbed as the expert (a fully fine-tuned image tower; the text
tower is shared, as in the expert recipe), one batch of 32 images, one thread, per-sample lambdas drawn in
[0, 1]. Times are medians of repeated runs measured in the same process, so the ratios are comparable
across machines. ``fast`` is pass B (the merged models' predictions); pass A (both endpoint models, 2 plain
forwards) is reported separately because it can be cached.

    python bench/merge.py [--model medclip-small] [--batch 32] [--repeats 5]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

import medclip  # noqa: E402
from medclip.merge.dual import DualEngine  # noqa: E402
from medclip.merge.engines import NaiveMerger  # noqa: E402
from medclip.merge.pair import MergePair  # noqa: E402
from medclip.zeroshot_head import build_text_classifier  # noqa: E402


def _median_time(fn, repeats: int, warmup: bool = True) -> float:
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _xray_prompts() -> list[list[str]]:
    """The demo suite's X-ray class prompts (names + synonyms x templates, as the eval suite expands them).

    Read from ``configs/eval/demo.yaml`` directly: ``bench/zeroshot.py`` shadows the ``zeroshot`` package here.
    """
    from pathlib import Path

    from medclip.config import read_yaml

    suite = read_yaml(Path(__file__).resolve().parent.parent / "configs" / "eval" / "demo.yaml")
    templates = suite["template_sets"]["demo_eval"]
    classes = [c for c in suite["datasets"][0]["classes"] if c.get("modality") == "xray"]
    return [[t.format(n) for n in [c["name"], *c.get("synonyms", [])] for t in templates] for c in classes]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="medclip-small")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    base, _, tok = medclip.create_model(args.model)
    expert = copy.deepcopy(base)
    with torch.no_grad():
        for p in expert.visual.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    pair = MergePair(base, expert)
    size = base.visual.image_size if hasattr(base.visual, "image_size") else (64, 64)
    size = size if isinstance(size, (tuple, list)) else (size, size)
    x = torch.randn(args.batch, 3, *size)
    lam = torch.rand(args.batch, generator=torch.Generator().manual_seed(1))
    dual = DualEngine(pair)
    naive_lit = NaiveMerger(pair, literal=True)  # spec section 4: full interpolation + text recompute
    naive_opt = NaiveMerger(pair)  # medclip's reference engine: differing tensors only, shared text
    prompts = _xray_prompts()
    text = build_text_classifier(base, tok, prompts)

    @torch.no_grad()
    def plain():
        return base.encode_image(x, normalize=True) @ text.T

    @torch.no_grad()
    def fast():
        return dual.encode_image(x, lam) @ text.T, dual.logit_scale(lam)

    def per_sample(naive, recompute_text, n=args.batch):
        @torch.no_grad()
        def run():
            out = []
            for i in range(n):
                m = naive.model_at(float(lam[i]))  # lambdas are distinct: one rebuild per sample
                t = build_text_classifier(m, tok, prompts) if recompute_text else text
                out.append(m.encode_image(x[i : i + 1], normalize=True) @ t.T)
            return torch.cat(out)

        return run

    naive_literal, naive_shared = per_sample(naive_lit, True), per_sample(naive_opt, False)
    with torch.no_grad():
        f = fast()[0]
        err = max(
            (f - naive_shared()).abs().max().item(), (f[:2] - per_sample(naive_lit, True, 2)()).abs().max().item()
        )
    r0 = naive_lit.rebuilds
    t_plain = _median_time(plain, args.repeats)
    t_fast = _median_time(fast, args.repeats)
    t_shared = _median_time(naive_shared, max(1, args.repeats // 2))
    t_lit = _median_time(naive_literal, 1, warmup=False)  # one full run: ~100x slower than the rest
    assert naive_lit.rebuilds - r0 >= args.batch, "the naive engine must rebuild once per sample"
    n_params = sum(p.numel() for p in base.parameters())
    print(f"model {args.model} ({n_params / 1e6:.1f}M params, {len(pair.differing)} differing tensors), "
          f"batch {args.batch}, threads {args.threads}")  # fmt: skip
    print(f"{len(prompts)} classes, {sum(map(len, prompts))} prompts (demo suite, x-ray classes)")
    print(f"plain forward: {t_plain * 1e3:.1f} ms; T3 fast (pass B): {t_fast * 1e3:.1f} ms; "
          f"naive per-sample (spec-literal: full interpolation + text recompute): {t_lit * 1e3:.1f} ms; "
          f"naive per-sample (differing tensors only, shared text): {t_shared * 1e3:.1f} ms")  # fmt: skip
    print(f"max |fast - naive| logit diff {err:.2e}")
    print(f"t3_fast_vs_shared_text_naive_speedup: {t_shared / t_fast:.2f} (informational)")
    print(f"t3_total_with_pass_a_vs_plain: {(2 * t_plain + t_fast) / t_plain:.2f} (informational)")
    res = {"t3_fast_vs_plain_cost": t_fast / t_plain, "t3_fast_vs_naive_speedup": t_lit / t_fast}
    print(f"t3_fast_vs_plain_cost: {res['t3_fast_vs_plain_cost']:.2f} (target <= 2.5)")
    print(f"t3_fast_vs_naive_speedup: {res['t3_fast_vs_naive_speedup']:.1f} (target >= 10)")
    return res


if __name__ == "__main__":
    main()
