"""Evaluation on top of ``medclip``: zero-shot classification, suites, metrics, retrieval, robustness, reports.

``from zeroshot import ZeroShotClassifier, load_suite``; the CLI is ``medclip-eval`` (``python -m zeroshot``).
"""

from .classifier import ZeroShotClassifier
from .suites import load_suite

__all__ = ["ZeroShotClassifier", "load_suite"]
