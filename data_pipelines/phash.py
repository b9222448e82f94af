"""Perceptual hash (64-bit DCT pHash) and near-duplicate search by Hamming distance.

The hash of an image: convert to grayscale (ITU-R 601 luma), resize to 32x32 (PIL box filter, which
averages, so downscaled copies land on almost the same grid), take the 2-D DCT-II, keep the 8x8
lowest-frequency block, and set bit ``i`` when coefficient ``i`` (row-major) is above the median of the
63 AC coefficients (the DC term is left out of the median: it only carries the mean brightness).

Two images are near-duplicates when the Hamming distance of their hashes is ``<= NEAR_DUP_THRESHOLD``
(8 of 64 bits by default; ``hygiene.near_dup_threshold``). Measured on the demo generator's images at 256 px:
a JPEG quality-70 re-encode of a 0.5x resize is at distance <= 2 of its original (at 96 px, halved to 48 px,
up to 12: tiny images are less stable). Exact copies are at distance 0. What the hash cannot promise:
distinct images that share their low-frequency layout (the demo's chest X-rays: the same silhouette) can be
within the threshold, so cross-source de-duplication is meant for collections of real, varied images, not
for near-identical synthetic ones; crops, rotations, flips and large overlays are not caught.

Candidate pairs are found by multi-index hashing: the 64 bits are cut into ``threshold + 1`` blocks, and
two hashes within the threshold agree exactly on at least one block (pigeonhole), so only hashes sharing a
block value are compared.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from PIL import Image

NEAR_DUP_THRESHOLD = 8
HASH_SIZE, DCT_SIZE = 8, 32


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * x + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


_D = _dct_matrix(DCT_SIZE)


def phash(pixels: np.ndarray) -> int:
    """64-bit DCT perceptual hash of uint8 pixels (HxW grayscale or HxWx3 RGB).

    Args:
        pixels: the decoded image.

    Returns:
        The hash as a Python int in ``[0, 2**64)``.
    """
    a = np.asarray(pixels)
    img = Image.fromarray(a if a.dtype == np.uint8 else a.astype(np.uint8))
    g = img.convert("L").resize((DCT_SIZE, DCT_SIZE), Image.BOX)
    f = np.asarray(g, dtype=np.float64)
    c = (_D @ f @ _D.T)[:HASH_SIZE, :HASH_SIZE].ravel()
    med = np.median(c[1:])
    bits = c > med
    return int(sum(1 << i for i in range(64) if bits[i]))


def phash_hex(pixels: np.ndarray) -> str:
    """:func:`phash` as 16 lower-case hex digits."""
    return f"{phash(pixels):016x}"


def hamming(a: int, b: int) -> int:
    """Number of differing bits of two hashes."""
    return (int(a) ^ int(b)).bit_count()


_POP8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def popcount64(x: np.ndarray) -> np.ndarray:
    """Bit counts of a uint64 array."""
    b = np.ascontiguousarray(x, dtype=np.uint64).view(np.uint8).reshape(*x.shape, 8)
    return _POP8[b].sum(axis=-1, dtype=np.int64)


def _blocks(threshold: int) -> list[tuple[int, int]]:
    n = min(64, threshold + 1)
    edges = np.linspace(0, 64, n + 1).round().astype(int)
    return [(int(edges[i]), int(edges[i + 1])) for i in range(n)]


def near_pairs(hashes: list[int], threshold: int = NEAR_DUP_THRESHOLD) -> dict[tuple[int, int], int]:
    """Every pair ``(i, j)``, ``i < j``, of hashes within ``threshold`` bits, with its distance.

    Args:
        hashes: the hashes (ints).
        threshold: maximum Hamming distance.

    Returns:
        ``{(i, j): distance}``.
    """
    arr = np.array([int(h) for h in hashes], dtype=np.uint64)
    out: dict[tuple[int, int], int] = {}
    for lo, hi in _blocks(threshold):
        mask = np.uint64(((1 << (hi - lo)) - 1) << lo)
        groups: dict[int, list[int]] = defaultdict(list)
        for i, v in enumerate((arr & mask).tolist()):
            groups[v].append(i)
        for idx in groups.values():
            if len(idx) < 2:
                continue
            ix = np.array(idx)
            for s in range(0, len(ix), 2048):  # bounded memory for large buckets
                rows = ix[s : s + 2048]
                d = popcount64(arr[rows][:, None] ^ arr[ix][None, :])
                for r, c in zip(*np.nonzero(d <= threshold)):
                    i, j = int(rows[r]), int(ix[c])
                    if i < j:
                        out[(i, j)] = int(d[r, c])
    return out


def nearest(h: int, pool: np.ndarray) -> tuple[int, int]:
    """Index and distance of the hash in ``pool`` (uint64 array) closest to ``h``; ``(-1, 65)`` if empty."""
    if pool.size == 0:
        return -1, 65
    d = popcount64(pool ^ np.uint64(int(h)))
    i = int(np.argmin(d))
    return i, int(d[i])


def near_excluded(exclude, ph_hex: str) -> bool:
    """Whether the hash ``ph_hex`` is within ``exclude.threshold`` of a hash of ``exclude.phashes``.

    ``exclude`` is what :func:`data_pipelines.build.read_exclusions` returns; a plain set has no hashes.
    """
    pool = getattr(exclude, "phashes", None)
    if pool is None or pool.size == 0:
        return False
    return nearest(int(ph_hex, 16), pool)[1] <= getattr(exclude, "threshold", NEAR_DUP_THRESHOLD)
