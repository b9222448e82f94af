"""The only data that model-selection code may see: the few-shot validation split (spec P14).

Epoch selection (Tip-Adapter-F), α/β search (Tip-Adapter) and C search (linear probe) take a
:class:`ValSplit`; :func:`require_val` rejects anything not tagged ``"val"``, so test data cannot leak
into selection even by mistake in a runner.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ValSplit:
    """Validation features ``(M, d)`` (unit norm, eval transform) and labels ``(M,)``."""

    features: torch.Tensor
    labels: torch.Tensor
    split: str = "val"


def require_val(data: ValSplit) -> ValSplit:
    """Assert that ``data`` is the validation split; raise ``AssertionError`` otherwise."""
    assert isinstance(data, ValSplit), f"selection code needs a ValSplit, got {type(data).__name__}"
    assert data.split == "val", f"selection code may only see the validation split, got split={data.split!r}"
    assert len(data.labels) > 0, "the validation split is empty"
    return data
