"""Bootstrap throughput: 1,000 resamples of 10,000 predictions (target about one second on 2 CPU cores).

    .venv/bin/python bench/stats.py            # accuracy CI (the issue's figure) + every classification CI
    .venv/bin/python bench/stats.py --quick    # 200 resamples, to check that it runs

Prints ``bootstrap_seconds: X (target <= 1.0)`` for the accuracy CI, then the time of the full set of
single-label CIs (accuracy, top-5, ECE plain; balanced accuracy, macro F1, AUC stratified) on 10 classes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

# bench/zeroshot.py would shadow the zeroshot package: import from the repository root instead
sys.path[:] = [str(Path(__file__).resolve().parent.parent)] + [
    q for q in sys.path if Path(q or ".").resolve() != Path(__file__).resolve().parent
]


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; returns the timings."""
    from zeroshot.stats import BootstrapConfig, bootstrap_ci
    from zeroshot.stats import wmetrics as wm
    from zeroshot.stats.metric_cis import classification_cis

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--resamples", type=int, default=1000)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--quick", action="store_true")
    a = p.parse_args(argv)
    if a.quick:
        a.resamples = 200
    rng = np.random.default_rng(0)
    y = rng.integers(0, a.classes, a.n)
    cos = rng.normal(size=(a.n, a.classes))
    cos[np.arange(a.n), y] += 1.5
    probs = np.exp(5 * cos)
    probs /= probs.sum(1, keepdims=True)
    correct = (cos.argmax(1) == y).astype(float)
    cfg = BootstrapConfig(resamples=a.resamples)
    t0 = time.perf_counter()
    bootstrap_ci(lambda w: wm.mean(w, correct), a.n, cfg)
    t_acc = time.perf_counter() - t0
    t0 = time.perf_counter()
    classification_cis(y, cos, probs, cfg)
    t_all = time.perf_counter() - t0
    print(f"bootstrap_seconds: {t_acc:.3f} (target <= 1.0; {a.resamples} resamples x {a.n} predictions, accuracy)")
    print(f"all_classification_cis_seconds: {t_all:.3f} ({a.classes} classes, 6 metrics)")
    return {"bootstrap_seconds": t_acc, "all_classification_cis_seconds": t_all}


if __name__ == "__main__":
    main()
