"""Eval-exclusion lists: the pixel sha256 of every image of an evaluation set, one per line, plus its
perceptual hash (``phash <16 hex>`` lines, :mod:`data_pipelines.phash`) for near-duplicate checks.

    python -m data_pipelines exclusion-list --from data/shards/demo/test --out eval_sha256.txt

``--from`` takes shard folders (every ``.tar`` below it: the ``sha256`` of each sample's ``.json``, the hash of
the full-resolution decoded pixels) or image folders (every image file below it, decoded and hashed with
:func:`data_pipelines.imageio.pixel_sha256`, the same function the builder uses). The output is sorted and
de-duplicated; ``hygiene.exclude`` and ``verify --exclude`` read it.

Near-duplicates (resized or re-encoded copies of an eval image, which have other pixel sha256 values) are
caught through the ``phash`` lines when asked: ``hygiene.near_dup_exclude: true`` drops them at build time,
``verify --exclude LIST --near-dup`` fails on them (:func:`near_duplicate_problems`). Lists written before the
phash lines existed still work; they only have no near-duplicate entries.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np

from . import sources as _sources  # noqa: F401  (load the sources package before imageio: breaks an init-order cycle)
from .imageio import decode_bytes, decode_shard_image, pixel_sha256
from .phash import NEAR_DUP_THRESHOLD, nearest, phash_hex
from .sources.base import SkipError
from .sources.files import IMAGE_EXTS


class Exclusions(frozenset):
    """A set of pixel sha256 values with the perceptual hashes of the same list (``phashes``, uint64)."""

    phashes: np.ndarray = np.zeros(0, np.uint64)
    threshold: int = NEAR_DUP_THRESHOLD

    @classmethod
    def of(cls, shas, phashes=(), threshold: int | None = None) -> Exclusions:
        out = cls(shas)
        out.phashes = np.array(sorted({int(h, 16) for h in phashes}), dtype=np.uint64)
        out.threshold = NEAR_DUP_THRESHOLD if threshold is None else int(threshold)
        return out


def _tars(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.name.endswith((".tar", ".tar.gz", ".tgz")))


def _shard_samples(folder: Path):
    """``(key, members)`` of every sample of every tar under ``folder`` (members: ext -> bytes)."""
    for tar in _tars(folder):
        try:
            groups: dict[str, dict] = {}
            with tarfile.open(tar) as tf:
                for m in tf:
                    if m.isfile():
                        key, _, ext = m.name.partition(".")
                        groups.setdefault(key, {})[ext] = tf.extractfile(m).read()
        except (tarfile.TarError, OSError) as e:
            raise ValueError(f"{tar}: unreadable shard ({type(e).__name__})") from None
        yield from groups.items()


def _image_member(members: dict) -> bytes | None:
    for ext in ("png", "jpg", "jpeg"):
        if ext in members:
            return members[ext]
    return None


def shard_hashes(folder: Path, phashes: list[str] | None = None) -> list[str]:
    """sha256 values recorded in the sample ``.json`` members of every tar under ``folder``.

    With ``phashes`` (a list), the perceptual hash of each sample is appended to it: the ``.json``'s
    ``phash`` when recorded, else computed from the stored image.
    """
    out = []
    for _, members in _shard_samples(folder):
        try:
            meta = json.loads(members.get("json", b"{}"))
        except ValueError as e:
            raise ValueError(f"{folder}: a sample .json does not parse ({type(e).__name__})") from None
        sha = meta.get("sha256")
        if isinstance(sha, str) and len(sha) == 64:
            out.append(sha)
            if phashes is not None:
                ph = meta.get("phash")
                img = _image_member(members)
                if not (isinstance(ph, str) and len(ph) == 16) and img is not None:
                    ph = phash_hex(decode_shard_image(img))
                if ph:
                    phashes.append(ph)
    return out


def image_hashes(folder: Path, phashes: list[str] | None = None) -> tuple[list[str], int]:
    """Pixel sha256 of every decodable image file under ``folder``; also the count of undecodable files."""
    out, bad = [], 0
    for p in sorted(q for q in folder.rglob("*") if q.suffix.lower() in IMAGE_EXTS and q.is_file()):
        try:
            px = decode_bytes(p.read_bytes()).pixels
        except SkipError:
            bad += 1
            continue
        out.append(pixel_sha256(px))
        if phashes is not None:
            phashes.append(phash_hex(px))
    return out, bad


def parse_exclusion_text(text: str, where: str) -> tuple[set[str], set[str]]:
    """``(sha256 values, phash values)`` of one list (text lines, or a JSON list of sha256 strings)."""
    shas, phs = set(), set()
    if text.lstrip().startswith("["):
        lines = [str(v) for v in json.loads(text)]
    else:
        lines = [ln.split("#")[0] for ln in text.splitlines()]
    for v in lines:
        v = v.strip().lower()
        if not v:
            continue
        if v.startswith("phash"):
            h = v[5:].strip(" :")
            if len(h) != 16 or any(c not in "0123456789abcdef" for c in h):
                raise ValueError(f"{where}: not a 64-bit perceptual hash: {v[:80]!r}")
            phs.add(h)
            continue
        if len(v) != 64 or any(c not in "0123456789abcdef" for c in v):
            raise ValueError(f"{where}: not a sha256 hex digest: {v[:80]!r}")
        shas.add(v)
    return shas, phs


def near_duplicate_problems(
    paths: list[str], exclude: list[str], *, splits=("train", "val"), threshold: int = NEAR_DUP_THRESHOLD, log=print
) -> list[str]:
    """Samples of the given splits whose image is a near-duplicate of an image on the exclusion lists.

    The perceptual hash is computed from each stored image (not read from its ``.json``), so a copy that
    was resized or re-encoded on its way into the shard is still compared as it is stored.

    Args:
        paths: split folders or build roots (as for ``verify``).
        exclude: exclusion list files (their ``phash`` lines are used).
        splits: the training splits to check.
        threshold: maximum Hamming distance that counts as a near-duplicate.
        log: Line printer.

    Returns:
        One problem string per near-duplicate sample (empty when clean).
    """
    phs: set[str] = set()
    for p in exclude:
        phs |= parse_exclusion_text(Path(p).read_text(), p)[1]
    pool = np.array(sorted(int(h, 16) for h in phs), dtype=np.uint64)
    problems: list[str] = []
    dirs = []
    for p in map(Path, paths):
        dirs += [p] if (p / "sizes.json").is_file() else sorted(q.parent for q in p.glob("*/sizes.json"))
    for d in dirs:
        try:
            split = json.loads((d / "manifest.json").read_text()).get("split") or d.name
        except (OSError, ValueError):
            split = d.name
        if split not in set(splits) or pool.size == 0:
            continue
        n = 0
        for key, members in _shard_samples(d):
            img = _image_member(members)
            if img is None:
                continue
            _, dist = nearest(int(phash_hex(decode_shard_image(img)), 16), pool)
            if dist <= threshold:
                n += 1
                problems.append(f"{d.name}/{key}: near-duplicate of an excluded image (phash distance {dist})")
                log(f"  FAIL {d.name}: {problems[-1]}")
        log(f"  {'ok  ' if not n else 'BAD '} {d}: near-duplicate check against {pool.size} perceptual hashes")
    return problems


def write_exclusion_list(sources: list[str], out: str, *, log=print) -> int:
    """Collect the hashes of ``sources`` (shard or image folders) into ``out``; returns the distinct count.

    Args:
        sources: Folders to read.
        out: Output text file (one sha256 per line, a ``#`` header naming the sources).
        log: Line printer.

    Returns:
        Number of distinct hashes written.
    """
    hashes: set[str] = set()
    phs: set[str] = set()
    for src in map(Path, sources):
        if not src.is_dir():
            raise FileNotFoundError(f"exclusion-list: folder not found: {src}")
        ph: list[str] = []
        found = shard_hashes(src, ph)
        kind = "shard samples"
        if not found:
            ph = []
            found, bad = image_hashes(src, ph)
            kind = "images" + (f" ({bad} undecodable files ignored)" if bad else "")
        if not found:
            raise ValueError(f"exclusion-list: no shards or images under {src}")
        log(f"  {src}: {len(found)} {kind}")
        hashes.update(found)
        phs.update(ph)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    header = "# pixel sha256 exclusion list from: " + ", ".join(sources)
    note = "# 'phash <hex>': 64-bit perceptual hashes of the same images (near-duplicate checks)"
    lines = [header, *sorted(hashes), note, *(f"phash {h}" for h in sorted(phs))]
    Path(out).write_text("\n".join(lines) + "\n")
    log(f"wrote {len(hashes)} distinct sha256 to {out}")
    return len(hashes)
