"""Evaluation on top of ``medclip``: zero-shot classification, suites, metrics, retrieval, robustness, reports.

``from zeroshot import ZeroShotClassifier, load_suite``; the CLI is ``medclip-eval`` (``python -m zeroshot``).
The two names are loaded lazily, so ``import zeroshot.stats`` (numpy only, e.g. for a serving path reading
a saved temperature) does not import torch.
"""

from __future__ import annotations

__all__ = ["ZeroShotClassifier", "load_suite"]


def __getattr__(name: str):
    if name == "ZeroShotClassifier":
        from .classifier import ZeroShotClassifier

        return ZeroShotClassifier
    if name == "load_suite":
        from .suites import load_suite

        return load_suite
    raise AttributeError(f"module 'zeroshot' has no attribute {name!r}")
