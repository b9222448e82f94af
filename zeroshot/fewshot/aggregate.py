"""Aggregation of few-shot results: mean ± std and CI95 over seeds, harmonic means both ways (spec §8.4-8.6)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def seed_stats(values: Sequence[float], ddof: int = 0) -> dict[str, float]:
    """``{"mean", "std", "ci95", "n", "std_ddof"}`` with ``CI95 = 1.96·std/√n`` (std with ``ddof``)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise ValueError("no values to aggregate")
    std = float(v.std(ddof=ddof)) if v.size > ddof else float("nan")
    return {
        "mean": float(v.mean()),
        "std": std,
        "ci95": 1.96 * std / math.sqrt(v.size),
        "n": int(v.size),
        "std_ddof": int(ddof),
    }


def harmonic_mean(base: float, novel: float) -> float:
    """``HM(B, N) = 2BN/(B + N)`` (0 when both are 0)."""
    return 0.0 if base + novel == 0 else 2.0 * base * novel / (base + novel)


def hm_of_means(pairs: Sequence[tuple[float, float]]) -> float:
    """HM of the cross-dataset mean base and mean novel accuracies (BiomedCoOp's own headline HM)."""
    b = float(np.mean([p[0] for p in pairs]))
    n = float(np.mean([p[1] for p in pairs]))
    return harmonic_mean(b, n)


def mean_of_hms(pairs: Sequence[tuple[float, float]]) -> float:
    """Mean over datasets of each dataset's HM(B̄_d, N̄_d)."""
    return float(np.mean([harmonic_mean(b, n) for b, n in pairs]))


def base_novel_split(num_classes: int) -> tuple[list[int], list[int]]:
    """Base = the first ⌈C/2⌉ sorted labels, novel = the rest (spec §8.5)."""
    if num_classes < 2:
        raise ValueError("base-to-novel needs at least 2 classes")
    nb = math.ceil(num_classes / 2)
    return list(range(nb)), list(range(nb, num_classes))
