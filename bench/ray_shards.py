"""Shard building with ``--executor ray`` against the local process pool, on this machine.

    python bench/ray_shards.py [--samples 600] [--workers 2]

Builds the demo source's train split (``--samples`` images, 96 px) with the local executor and with Ray
actors (a local Ray instance started here, ``num_cpus = --workers``), same worker count, and reports both
write-phase throughputs, their ratio and whether the output folders are byte-identical. On one machine Ray
can only add overhead (actor start-up, object store); it is there for builds past one machine.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _digest(root: Path) -> dict:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".build" not in p.parts
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=600)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    import ray

    from data_pipelines.build import build
    from data_pipelines.config import load_build_config

    ov = [f"sources.demo.train={args.samples}", "sources.demo.val=0", "sources.demo.test=0",
          "sources.demo.test_shifted=0", "shards.max_samples=100"]  # fmt: skip
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    rate, digests = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for ex in ("local", "ray"):
            out = Path(tmp) / ex
            t0 = time.perf_counter()
            rep = build(load_build_config(None, ov), out=out, workers=args.workers, progress=False, executor=ex,
                        log=lambda *a: None)  # fmt: skip
            wall = time.perf_counter() - t0
            rate[ex] = rep.items_processed / rep.write_seconds
            digests[ex] = _digest(out)
            print(f"# {ex}: {rep.items_processed} items, write phase {rep.write_seconds:.1f} s, wall {wall:.1f} s")
    ray.shutdown()
    same = digests["ray"] == digests["local"]
    print(f"shards_local_items_per_s[workers={args.workers}]: {rate['local']:.1f}")
    print(f"shards_ray_items_per_s[workers={args.workers}]: {rate['ray']:.1f}")
    print(f"shards_ray_vs_local: {rate['ray'] / rate['local']:.2f} (target >= 0.5)")
    print(f"shards_ray_byte_identical: {int(same)} (target == 1)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
