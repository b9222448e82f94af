"""Raw sample streams: seeded shard order, split by rank/worker, repetition, resampling, mixing, shuffling.

A *unit* is one (rank, worker role) pair; ``n_units = world_size x workers``. Every function here is a
deterministic function of its seeds, so a stream can be replayed (and fast-forwarded without decoding) to
resume mid-epoch exactly.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator

from .damage import MARKER
from .errors import DataError
from .tario import iter_tar_samples


def seed_of(*parts) -> int:
    """A 64-bit seed from any tuple of ints/strings (stable across processes and runs)."""
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=8).digest(), "little")


def seeded_rng(*parts) -> random.Random:
    """``random.Random`` seeded from :func:`seed_of`."""
    return random.Random(seed_of(*parts))


def source_stream(
    urls: list[str],
    *,
    seed: int,
    epoch: int,
    source: int,
    unit: int,
    n_units: int,
    split_by: str,
    shard_shuffle: bool,
    resampled: bool,
    bufsize: int = 0,
    initial: int = 0,
    sizes: dict[str, int] | None = None,
    report: bool = False,
) -> Iterator[dict]:
    """Infinite stream of raw samples of one source for one unit (repeats with a new shard order).

    Each pass over the unit's shards goes through its own shuffle buffer (drained at the end of the pass), so
    an epoch that fits in one pass sees every sample exactly once. With ``report``, each damaged shard (or one
    whose count differs from ``sizes[url]``) adds a damage marker to the stream on every read
    (:mod:`medclip.data.damage`); markers are not samples. When damage leaves a pass short of the epoch's
    sample count (taken from ``sizes.json``), the next pass (a new shard order and shuffle) fills the epoch:
    the epoch keeps its step count and re-reads that many samples.
    """
    sizes = sizes or {}

    def read(url: str) -> Iterator[dict]:
        return iter_tar_samples(url, expected=sizes.get(url), report=report)

    if resampled:  # each unit draws shards with replacement from its own RNG: no split needed
        rng = seeded_rng(seed, epoch, "resample", source, unit)
        rnd = 0
        while True:
            n = 0
            drawn = (s for _ in range(len(urls)) for s in read(rng.choice(urls)))
            for s in shuffle(drawn, bufsize=bufsize, initial=initial, rng=seeded_rng(seed, epoch, source, unit, rnd)):
                n += MARKER not in s
                yield s
            rnd += 1
            if n == 0:
                raise DataError(f"no readable samples in the {len(urls)} shards of {urls[0]} ...")
    if split_by == "shard" and len(urls) < n_units:
        raise DataError(
            f"{len(urls)} shards for {n_units} readers (ranks x workers): use more shards, fewer workers, "
            "data.split_by=sample or data.resampled=true"
        )
    rep = 0
    while True:
        order = list(urls)
        if shard_shuffle:
            seeded_rng(seed, epoch, "shards", source, rep).shuffle(order)
        if split_by == "shard":
            mine = (s for url in order[unit::n_units] for s in read(url))
        else:
            mine = _split_samples((s for url in order for s in read(url)), unit, n_units)
        n = 0
        for s in shuffle(mine, bufsize=bufsize, initial=initial, rng=seeded_rng(seed, epoch, source, unit, rep)):
            n += MARKER not in s
            yield s
        if n == 0:
            raise DataError(f"no readable samples for reader {unit} in the shards of {urls[0]} ...")
        rep += 1


def _split_samples(it: Iterator[dict], unit: int, n_units: int) -> Iterator[dict]:
    """Every ``n_units``-th sample (from ``unit``); damage markers go to every unit (they are not samples)."""
    i = 0
    for s in it:
        if MARKER in s:
            yield s
            continue
        if i % n_units == unit:
            yield s
        i += 1


def mix(streams: list[Iterator[dict]], weights: list[float], rng: random.Random) -> Iterator[dict]:
    """Draw from ``streams`` with probabilities proportional to ``weights`` (one draw per sample)."""
    if len(streams) == 1:
        yield from streams[0]
        return
    idx = list(range(len(streams)))
    while True:
        yield next(streams[rng.choices(idx, weights)[0]])


def shuffle(it: Iterator[dict], *, bufsize: int, initial: int, rng: random.Random) -> Iterator[dict]:
    """Shuffle buffer: fill to ``initial``, then grow to ``bufsize`` while emitting random elements."""
    if bufsize <= 1:
        yield from it
        return
    initial = max(1, min(initial, bufsize))
    buf: list[dict] = []
    for x in it:
        buf.append(x)
        if len(buf) < initial:
            continue
        if len(buf) < bufsize:
            nxt = next(it, None)
            if nxt is not None:
                buf.append(nxt)
        k = rng.randrange(len(buf))
        buf[k], buf[-1] = buf[-1], buf[k]
        yield buf.pop()
    while buf:
        k = rng.randrange(len(buf))
        buf[k], buf[-1] = buf[-1], buf[k]
        yield buf.pop()
