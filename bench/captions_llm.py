"""Report-captioning throughput against the mock OpenAI-compatible server (tests/mock_llm_server.py).

    .venv/bin/python bench/captions_llm.py [--reports 200] [--latency 0.05] [--concurrency N]

The server answers every request with valid captions after ``--latency`` seconds (a stand-in for model
time). The captioner scrubs each report, sends one request, parses, scrubs and checks the answer, as in a
build. Requests/s is measured at concurrency 1 and at the configured concurrency (``captions.concurrency``,
default 4, or ``--concurrency``), with no cache. The client-side CPU time per report (scrub + prompt +
checks) is what bounds the rate when the server is fast. Ends with the target lines.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from data_pipelines.captions import CaptionConfig
from data_pipelines.captions.reports import ReportCaptioner
from data_pipelines.deid.corpus import planted_corpus

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from mock_llm_server import MockLLMServer  # noqa: E402


def run(srv: MockLLMServer, reports: list[str], concurrency: int) -> tuple[float, float, dict]:
    cfg = CaptionConfig(
        backend="openai", model="mock", base_url=srv.base_url, api_key_env="", retries=0, timeout=10,
        concurrency=concurrency,
    )  # fmt: skip
    cap = ReportCaptioner(cfg)
    before = srv.requests
    t0, c0 = time.perf_counter(), time.process_time()
    results = cap.many(reports, 3)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert all(r.backend == "openai" for r in results), cap.stats()
    return (srv.requests - before) / wall, cpu / len(reports), cap.stats()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=int, default=200)
    ap.add_argument("--latency", type=float, default=0.05, help="seconds the mock server takes per answer")
    ap.add_argument("--concurrency", type=int, default=CaptionConfig().concurrency)
    args = ap.parse_args(argv)
    reports = [d.text for d in planted_corpus(args.reports, seed=1)]
    print(f"load average (1/5/15 min): {'/'.join(f'{x:.2f}' for x in os.getloadavg())}")
    with MockLLMServer(["good"], delay_s=args.latency) as srv:
        rps1, cpu1, _ = run(srv, reports, 1)
        rpsn, cpun, stats = run(srv, reports, args.concurrency)
        peak = srv.max_in_flight
    ceiling = args.concurrency / args.latency if args.latency else float("inf")
    print(f"reports: {args.reports}, server latency {args.latency * 1e3:.0f} ms, peak requests in flight {peak}")
    print(f"client CPU per report: {cpu1 * 1e3:.1f} ms at concurrency 1, {cpun * 1e3:.1f} ms at {args.concurrency}")
    print(f"requests_per_s_concurrency_1: {rps1:.1f} (ceiling {1 / args.latency:.1f})")
    print(f"stats: llm_calls={stats['llm_calls']} fallbacks={stats['fallbacks']} phi={stats['phi_scrubbed']}")
    print(f"llm_captioning_requests_per_s: {rpsn:.1f} (concurrency {args.concurrency}; target >= {0.7 * ceiling:.1f})")
    print(f"concurrency_speedup: {rpsn / rps1:.2f} (target >= {0.7 * args.concurrency:.1f})")


if __name__ == "__main__":
    main()
