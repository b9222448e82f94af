"""Fast shard check before training: shard lists, sample counts, and the first samples of each source.

Refuses (DataError, one line saying what to fix) a run that would train on nothing or on silently broken
data: missing/empty paths, zero usable samples, missing captions, sample keys with dots (webdataset groups
members by the text before the first dot, so ``1.2.840.113619.jpg`` splits into key ``1`` and extension
``2.840.113619.jpg``), and >8-bit images that an 8-bit decode would clip.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from itertools import islice

from PIL import Image

from .damage import MARKER
from .decode import IMAGE_EXTS, is_high_bit
from .errors import DataError
from .samples import captions_of, read_meta
from .tario import iter_tar_samples
from .urls import expand_urls, shard_sizes

log = logging.getLogger(__name__)
KNOWN_EXTS = set(IMAGE_EXTS) | {"txt", "json", "cls", "npy", "dcm", "nii", "gz"}


@dataclass
class SourceReport:
    """What the check learned about one source."""

    url: str
    shards: list[str]
    samples: int | None  # from sizes.json (None when unknown)
    checked: int = 0
    usable: int = 0
    problems: list[str] = field(default_factory=list)


def _dotted(sample: dict) -> bool:
    return any("." in ext and ext.rsplit(".", 1)[-1] in KNOWN_EXTS for ext in sample if not ext.startswith("__"))


def check_source(url: str, *, n_samples: int = 16, high_bit_depth: str = "error", kinds=None) -> SourceReport:
    """Check one source spec; raises DataError with a what-to-fix message on a refusing problem."""
    shards = expand_urls(url)
    sizes = shard_sizes(shards)
    total = sum(sizes.values()) if len(sizes) == len(shards) else None
    rep = SourceReport(url=url, shards=shards, samples=total)
    if total == 0:
        raise DataError(f"{url}: sizes.json says the shards hold 0 samples; rebuild the shards")
    no_caption = high_bit = dotted = no_image = undecodable = 0
    first = None
    damaged: list = []

    def readable():
        for sh in shards[:4]:
            for s in iter_tar_samples(sh, expected=sizes.get(sh), report=True):
                if MARKER in s:
                    damaged.append(s[MARKER])
                else:
                    yield s

    for sample in islice(readable(), n_samples):
        rep.checked += 1
        first = first or sample["__key__"]
        if _dotted(sample):
            dotted += 1
            continue
        ext = next((e for e in IMAGE_EXTS if e in sample), None)
        try:
            meta = read_meta(sample)
            caps = captions_of(sample, meta, kinds)
        except (ValueError, UnicodeDecodeError):
            caps = []
        if not caps:
            no_caption += 1
        if ext is None:
            no_image += 1
            continue
        try:
            img = Image.open(io.BytesIO(sample[ext]))
            if is_high_bit(img) and high_bit_depth == "error":
                high_bit += 1
                continue
            img.verify()
        except Exception:
            undecodable += 1
            continue
        if caps:
            rep.usable += 1
    for d in damaged:  # the trainer counts and names them again at every read (medclip.data.damage)
        rep.problems.append(f"damaged shard {d.describe()}")
        log.warning("%s: %s", url, rep.problems[-1])
    if rep.checked == 0:
        raise DataError(f"{url}: the shards contain no samples (first shard {shards[0]}); rebuild them")
    where = f"{url}: {{}} of the first {rep.checked} samples"
    if dotted:
        raise DataError(
            where.format(dotted) + " have keys with dots (webdataset splits the key at the first "
            "dot); replace '.' in sample keys (e.g. DICOM UIDs) with '_' when writing the shards"
        )
    if high_bit:
        raise DataError(
            where.format(high_bit) + " are >8-bit images that an 8-bit decode would clip; store "
            "them as 8-bit with windowing, or set data.high_bit_depth=minmax (or shift)"
        )
    if no_caption * 2 >= rep.checked:
        raise DataError(
            where.format(no_caption) + " have no caption (no .txt and no 'captions' in .json); "
            "write captions when building the shards"
        )
    if rep.usable == 0:
        raise DataError(
            where.format(rep.checked) + f" are unusable ({no_image} without image, {undecodable} "
            "undecodable); check the image members of the shards"
        )
    if no_caption or no_image or undecodable:
        rep.problems.append(
            f"{no_caption} without caption, {no_image} without image, {undecodable} undecodable "
            f"of {rep.checked} checked (they will be skipped)"
        )
        log.warning("%s: %s", url, rep.problems[-1])
    return rep
