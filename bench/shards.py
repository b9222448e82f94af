"""Shard-building throughput: 1 vs 2 worker processes, and the raw render+encode rate of the same images.

    .venv/bin/python bench/shards.py [--n-per-class 100] [--repeats 2]

"raw" renders and JPEG-encodes the same images in one process with no tar/json/hash work: the ceiling of one
worker. Each build is timed end to end (plan + write + finalise, what `make shards` waits for) and in its
write phase alone (the parallel part). Builds alternate 1, 2, 1, 2 workers and the best of `--repeats` runs
counts, because other jobs share the machine; the load average is printed before and after. CPU seconds per
image (this process + its workers) show whether a slowdown is contention (same CPU, more wall) or waste.
Ends with the target line `shards_2workers_vs_1worker: X (target >= 1.7)`.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

from data_pipelines.build import build, single_thread_blas
from data_pipelines.config import load_build_config
from data_pipelines.imageio import encode
from data_pipelines.sources.demo import DEMO_CLASSES, render


def _cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-per-class", type=int, default=100)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    n = args.n_per_class
    total = n * len(DEMO_CLASSES)
    ov = [f"sources.demo.train={n}", "sources.demo.val=0", "sources.demo.test=0", "sources.demo.test_shifted=0",
          f"sources.demo.image_size={args.size}", f"shards.max_samples={max(1, -(-total // 8))}"]  # fmt: skip
    load0 = os.getloadavg()
    t, c = time.perf_counter(), _cpu()
    with single_thread_blas():
        for ci in range(len(DEMO_CLASSES)):
            for i in range(n):
                encode(render(ci, split="train", index=i, size=args.size), "jpg", quality=90)
    raw, raw_cpu = total / (time.perf_counter() - t), (_cpu() - c) / total
    best: dict[int, dict] = {}
    for _ in range(args.repeats):
        for w in (1, 2):
            with tempfile.TemporaryDirectory() as d:
                c = _cpu()
                rep = build(load_build_config(None, ov), out=d, workers=w, progress=False, log=lambda *a: None)
                r = {
                    "e2e": rep.items_processed / rep.seconds,
                    "write": rep.items_processed / rep.write_seconds,
                    "serial": rep.seconds - rep.write_seconds,
                    "cpu": (_cpu() - c) / rep.items_processed,
                }
            if w not in best or r["e2e"] > best[w]["e2e"]:
                best[w] = r
    load1 = os.getloadavg()
    print(f"images: {total} ({n} per class, {args.size}px), 8 chunks; best of {args.repeats} runs per setting")
    print(f"load average (1/5/15 min): before {load0[0]:.2f}/{load0[1]:.2f}/{load0[2]:.2f}, "
          f"after {load1[0]:.2f}/{load1[1]:.2f}/{load1[2]:.2f} on {os.cpu_count()} cpus")  # fmt: skip
    print(f"raw render+encode, 1 process: {raw:.0f} img/s, {raw_cpu * 1e3:.2f} ms CPU/img")
    for w in (1, 2):
        b = best[w]
        name = f"{w} worker{'s' if w > 1 else ' '}"
        print(f"build, {name}: {b['e2e']:.0f} img/s end to end, {b['write']:.0f} img/s write phase, "
              f"{b['serial']:.2f} s serial (plan + finalise), {b['cpu'] * 1e3:.2f} ms CPU/img")  # fmt: skip
    print(f"write phase 2 vs 1 workers: {best[2]['write'] / best[1]['write']:.2f}")
    print(f"shards_1worker_vs_raw: {best[1]['e2e'] / raw:.2f} (target >= 0.7)")
    print(f"shards_2workers_vs_1worker: {best[2]['e2e'] / best[1]['e2e']:.2f} (target >= 1.7)")


if __name__ == "__main__":
    main()
