"""Bootstrap resample-count matrices.

A resample of ``n`` items is represented by its count vector ``w`` (``w[i]`` = how often item ``i`` was
drawn; ``sum(w) = n``). Every metric in :mod:`.wmetrics` is written against a ``(B, n)`` matrix of such
counts, which turns B metric evaluations into a few matrix products. Stratified resampling draws the same
number of items from each stratum as it holds, so every class keeps its support.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

CHUNK_ELEMENTS = 4_000_000  # resamples are drawn in chunks of about this many counts (32 MB as float64)


def _counts(idx: np.ndarray, n: int) -> np.ndarray:
    """``(b, m)`` drawn item indices -> ``(b, n)`` float64 counts."""
    b = idx.shape[0]
    flat = (idx + (np.arange(b, dtype=np.int64) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)


def draw_counts(rng: np.random.Generator, n: int, b: int, strata: np.ndarray | None = None) -> np.ndarray:
    """``(b, n)`` counts of ``b`` bootstrap resamples of ``n`` items (within each stratum when given).

    Args:
        rng: the random generator (advanced in place).
        n: number of items.
        b: number of resamples.
        strata: optional ``(n,)`` integer stratum of each item.

    Returns:
        float64 array; every row sums to ``n`` (and, stratified, to each stratum's size within it).
    """
    if n <= 0:
        raise ValueError("cannot resample an empty set")
    if strata is None:
        return _counts(rng.integers(0, n, size=(b, n)), n)
    strata = np.asarray(strata)
    if strata.shape != (n,):
        raise ValueError(f"strata must have shape ({n},), got {strata.shape}")
    parts = []
    for s in np.unique(strata):
        members = np.flatnonzero(strata == s)
        parts.append(members[rng.integers(0, len(members), size=(b, len(members)))])
    return _counts(np.concatenate(parts, axis=1), n)


def iter_counts(
    n: int, resamples: int, seed: int, strata: np.ndarray | None = None, chunk: int | None = None
) -> Iterator[np.ndarray]:
    """Yield count matrices of ``resamples`` resamples in chunks (deterministic for a given seed and ``n``).

    Args:
        n: number of items.
        resamples: total number of resamples B.
        seed: seed of ``numpy.random.default_rng``.
        strata: optional stratum per item (see :func:`draw_counts`).
        chunk: resamples per chunk (default: about ``CHUNK_ELEMENTS / n``).

    Yields:
        ``(b, n)`` count matrices whose row counts add up to ``resamples``.
    """
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    rng = np.random.default_rng(seed)
    chunk = chunk or max(1, CHUNK_ELEMENTS // max(n, 1))
    done = 0
    while done < resamples:
        b = min(chunk, resamples - done)
        yield draw_counts(rng, n, b, strata)
        done += b
