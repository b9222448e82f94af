"""``python -m medclip.compat.clip_benchmark eval ...``: the ``clip_benchmark`` CLI, runnable on medclip models.

Two changes, nothing else: medclip's architectures are registered with open_clip first (``--model
medclip-small --pretrained <trainer checkpoint>`` then works), and CLIP_benchmark 1.6.2's top-k ``accuracy``
(which calls ``float()`` on a 1-element array, a TypeError under numpy 2) is replaced by the same
computation on a scalar. See ``python -m zeroshot.clip_benchmark_export`` for suite datasets in its layout.
"""

from __future__ import annotations

import sys


def accuracy(output, target, topk=(1,)):
    """Top-k accuracies of ``output`` (N, C) logits against ``target`` (N,), CLIP_benchmark's definition."""
    pred = output.topk(max(topk), 1, True, True)[1].t()
    correct = pred.eq(target.view(1, -1).expand_as(pred))
    n = len(target)
    return [float(correct[:k].reshape(-1).float().sum().item()) / n for k in topk]


def patch() -> None:
    """Install the numpy-2-safe ``accuracy`` in CLIP_benchmark (idempotent)."""
    from clip_benchmark.metrics import zeroshot_classification

    zeroshot_classification.accuracy = accuracy


def main(argv: list[str] | None = None):
    """Register medclip's models, patch, and run ``clip_benchmark.cli.main`` with ``argv``."""
    try:
        from clip_benchmark import cli
    except ImportError:
        raise SystemExit("medclip.compat.clip_benchmark: pip install clip-benchmark") from None
    import medclip.models  # noqa: F401  (medclip architectures in open_clip's table)

    patch()
    sys.argv = ["clip_benchmark", *(sys.argv[1:] if argv is None else argv)]
    return cli.main()


if __name__ == "__main__":
    main()
