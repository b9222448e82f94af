"""bench/gpu.py is ready for a GPU: its CPU smoke run (``--device cpu --tiny``) trains every combination."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_bench_cpu_tiny_run_prints_every_combination():
    p = subprocess.run(
        [sys.executable, str(ROOT / "bench/gpu.py"), "--device", "cpu", "--tiny"],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    out = p.stdout
    for s in ("ddp", "fsdp"):
        for d in ("synthetic", "shards", "gpu-decode"):
            tag = re.escape(f"[compile=off,strategy={s},data={d}]")
            sps = float(re.search(rf"^samples_per_s{tag}: ([\d.]+)$", out, re.M).group(1))
            assert sps > 0
            tf = float(re.search(rf"^tflops_per_device{tag}: ([\d.]+)$", out, re.M).group(1))
            assert tf > 0
            assert re.search(rf"^mfu{tag}: n/a", out, re.M)  # CPU: no peak FLOP/s in the table
            wait = float(re.search(rf"^data_wait_frac{tag}: ([\d.]+)$", out, re.M).group(1))
            assert 0.0 <= wait <= 1.0
            assert float(re.search(rf"^peak_memory_mib{tag}: ([\d.]+)$", out, re.M).group(1)) > 0
            if d != "synthetic":
                assert re.search(rf"^data_over_synthetic{tag}: [\d.]+ \(target >= 0.95\)$", out, re.M)
