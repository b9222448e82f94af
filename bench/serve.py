"""medclip-serve throughput and latency against a bare batched ``encode_image`` loop, same images, same run.

    .venv/bin/python bench/serve.py [--model ViT-B-32] [--clients 16] [--requests 48] [--max-batch 8]

A ``medclip-serve`` process on 127.0.0.1 (free port) serves ``--model`` (any spec ``load_model`` takes; the
default is open_clip's ViT-B-32 at random initialisation, nothing downloaded). ``--clients`` concurrent
clients send ``--requests`` ``POST /v1/classify`` uploads in all (demo PNG renders, six typed classes), each
client one request at a time; every request is timed end to end. The bare loop encodes the same images,
already decoded and preprocessed, in batches of ``--max-batch`` with the same torch thread count, once
before and once after the server run (their mean is the reference). Bounded: at most 16 clients, 512
requests, ``--time-limit`` seconds. Ends with the target lines.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_serve_fixtures import MODALITY_CLASSES, Server, png_bytes  # noqa: E402

from data_pipelines.sources.demo import DEMO_CLASSES, render  # noqa: E402
from medclip.models.load import load_model  # noqa: E402


def images(n: int) -> list[bytes]:
    return [png_bytes(render(i % len(DEMO_CLASSES), split="test", index=i, size=224)) for i in range(n)]


def bare_loop(model, pre, data: list[bytes], batch: int) -> float:
    """Images per second of ``encode_image`` alone, in batches of ``batch`` (decode + preprocess not timed)."""
    xs = torch.stack([pre(Image.open(io.BytesIO(d)).convert("RGB")) for d in data])
    with torch.no_grad():
        model.encode_image(xs[:batch])  # warm-up
        t0 = time.perf_counter()
        for i in range(0, len(xs), batch):
            model.encode_image(xs[i : i + batch])
    return len(xs) / (time.perf_counter() - t0)


def clients(url: str, data: list[bytes], n_clients: int, deadline: float) -> tuple[list[float], int, float]:
    import httpx

    lat, errors, lock = [], [0], threading.Lock()
    todo = list(range(len(data)))

    def run():
        with httpx.Client(timeout=120) as c:
            while time.monotonic() < deadline:
                with lock:
                    if not todo:
                        return
                    i = todo.pop()
                t0 = time.perf_counter()
                try:
                    r = c.post(f"{url}/v1/classify", files={"file": ("x.png", data[i])},
                               data={"classes": "\n".join(MODALITY_CLASSES.values())})  # fmt: skip
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    lat.append(time.perf_counter() - t0)
                    errors[0] += not ok

    threads = [threading.Thread(target=run) for _ in range(n_clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return lat, errors[0], time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="ViT-B-32")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=48)
    ap.add_argument("--max-batch", type=int, default=8)
    ap.add_argument("--max-wait-ms", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads of both the server and the bare loop")
    ap.add_argument("--time-limit", type=float, default=300.0, help="seconds for the client phase")
    args = ap.parse_args(argv)
    n_clients, n_req = min(args.clients, 16), min(args.requests, 512)
    torch.set_num_threads(args.threads)
    print(f"load average (1/5/15 min): {'/'.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    data = images(n_req)
    model, pre, _, info = load_model(args.model)
    model.eval()
    bare1 = bare_loop(model, pre, data, args.max_batch)
    srv_args = ("--model", args.model, "--max-batch", str(args.max_batch), "--max-wait-ms", str(args.max_wait_ms),
                "--log-level", "warning")  # fmt: skip
    with Server(*srv_args, threads=args.threads) as s:  # the same torch thread count as the bare loop
        clients(s.url, data[: min(n_clients, len(data))], n_clients, time.monotonic() + 60)  # warm-up
        lat, errors, wall = clients(s.url, data, n_clients, time.monotonic() + args.time_limit)
    bare2 = bare_loop(model, pre, data, args.max_batch)
    bare = (bare1 + bare2) / 2
    thr = len(lat) / wall
    p50, p95 = (float(np.percentile(lat, q)) * 1e3 for q in (50, 95))
    print(f"model: {info['id']}, clients: {n_clients}, requests: {len(lat)}/{n_req}, max batch: {args.max_batch}, "
          f"threads: {args.threads}")  # fmt: skip
    print(f"bare encode_image loop: {bare1:.2f} / {bare2:.2f} images/s (before / after), mean {bare:.2f}")
    print(f"server: {thr:.2f} requests/s, latency p50 {p50:.0f} ms, p95 {p95:.0f} ms")
    print(f"throughput_ratio: {thr / bare:.3f} (target >= 0.7)")
    print(f"errors: {errors} (target == 0)")
    print(f"completed: {len(lat)} (target == {n_req})")
    return 0 if thr / bare >= 0.7 and errors == 0 and len(lat) == n_req else 1


if __name__ == "__main__":
    sys.exit(main())
