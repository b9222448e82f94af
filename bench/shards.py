"""Shard-building throughput: 1 vs 2 worker processes, and the raw decode+encode rate of the same images.

    .venv/bin/python bench/shards.py [--n-per-class 40]

"raw" renders/decodes and JPEG-encodes the same images in one process with no tar/json/hash work: the
ceiling for one worker. Ends with the target line `shards_2workers_vs_1worker: X (target >= 1.7)`.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from data_pipelines.build import build
from data_pipelines.config import load_build_config
from data_pipelines.imageio import encode
from data_pipelines.sources.demo import DEMO_CLASSES, render


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-per-class", type=int, default=40)
    ap.add_argument("--size", type=int, default=96)
    args = ap.parse_args()
    n = args.n_per_class
    ov = [f"sources.demo.train={n}", "sources.demo.val=0", "sources.demo.test=0", "sources.demo.test_shifted=0",
          f"sources.demo.image_size={args.size}", f"shards.max_samples={max(1, n * 17 // 8)}"]  # fmt: skip
    total = n * len(DEMO_CLASSES)
    t = time.perf_counter()
    for ci in range(len(DEMO_CLASSES)):
        for i in range(n):
            encode(render(ci, split="train", index=i, size=args.size), "jpg", quality=90)
    raw = total / (time.perf_counter() - t)
    rates = {}
    for w in (1, 2):
        with tempfile.TemporaryDirectory() as d:
            rep = build(load_build_config(None, ov), out=d, workers=w, progress=False, log=lambda *a: None)
            rates[w] = rep.items_processed / rep.seconds
    print(f"images: {total} ({n} per class, {args.size}px)")
    print(f"raw decode+encode, 1 process: {raw:.0f} img/s")
    print(f"build, 1 worker:  {rates[1]:.0f} img/s  ({rates[1] / raw:.2f}x raw)")
    print(f"build, 2 workers: {rates[2]:.0f} img/s  ({rates[2] / raw:.2f}x raw)")
    print(f"shards_1worker_vs_raw: {rates[1] / raw:.2f} (target >= 0.7)")
    print(f"shards_2workers_vs_1worker: {rates[2] / rates[1]:.2f} (target >= 1.7)")


if __name__ == "__main__":
    main()
