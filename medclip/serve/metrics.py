"""Prometheus text exposition (format 0.0.4) for counters and histograms, without a client library."""

from __future__ import annotations

import bisect
import threading

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    esc = (v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for _, v in labels)
    return "{" + ",".join(f'{k}="{v}"' for (k, _), v in zip(labels, esc)) + "}"


class Counter:
    """A labelled monotonically increasing counter."""

    def __init__(self, name: str, help_text: str):
        self.name, self.help = name, help_text
        self.values: dict[tuple, float] = {}
        self._lock = threading.Lock()

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self.values[key] = self.values.get(key, 0.0) + amount

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        out += [f"{self.name}{_labels(k)} {v:g}" for k, v in sorted(self.values.items())]
        return out


class Histogram:
    """A labelled histogram with fixed upper bounds (cumulative ``_bucket`` lines, ``_sum``, ``_count``)."""

    def __init__(self, name: str, help_text: str, buckets: tuple[float, ...]):
        self.name, self.help, self.buckets = name, help_text, tuple(sorted(buckets))
        self.values: dict[tuple, list] = {}
        self._lock = threading.Lock()

    def observe(self, value: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            counts, total = self.values.setdefault(key, [[0] * (len(self.buckets) + 1), 0.0])
            counts[bisect.bisect_left(self.buckets, value)] += 1
            self.values[key][1] = total + value

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        for key, (counts, total) in sorted(self.values.items()):
            cum = 0
            for bound, c in zip(self.buckets, counts):
                cum += c
                out.append(f"{self.name}_bucket{_labels(key + (('le', f'{bound:g}'),))} {cum}")
            cum += counts[-1]
            out.append(f"{self.name}_bucket{_labels(key + (('le', '+Inf'),))} {cum}")
            out.append(f"{self.name}_sum{_labels(key)} {total:.6g}")
            out.append(f"{self.name}_count{_labels(key)} {cum}")
        return out


class Metrics:
    """The service's metrics: requests, errors, request latency, batch sizes."""

    def __init__(self):
        self.requests = Counter("medclip_requests_total", "HTTP requests by route and status code.")
        self.errors = Counter("medclip_errors_total", "Refused or failed requests by route and error code.")
        self.latency = Histogram("medclip_request_seconds", "Request latency in seconds by route.", LATENCY_BUCKETS)
        self.batch = Histogram("medclip_batch_size", "Images per model call of the micro-batcher.", BATCH_BUCKETS)

    def render(self) -> str:
        lines = []
        for m in (self.requests, self.errors, self.latency, self.batch):
            lines += m.render()
        return "\n".join(lines) + "\n"
