"""Eval-exclusion lists: the pixel sha256 of every image of an evaluation set, one per line.

    python -m data_pipelines exclusion-list --from data/shards/demo/test --out eval_sha256.txt

``--from`` takes shard folders (every ``.tar`` below it: the ``sha256`` of each sample's ``.json``, the hash of
the full-resolution decoded pixels) or image folders (every image file below it, decoded and hashed with
:func:`data_pipelines.imageio.pixel_sha256`, the same function the builder uses). The output is sorted and
de-duplicated; ``hygiene.exclude`` and ``verify --exclude`` read it.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from . import sources as _sources  # noqa: F401  (load the sources package before imageio: breaks an init-order cycle)
from .imageio import decode_bytes, pixel_sha256
from .sources.base import SkipError
from .sources.files import IMAGE_EXTS


def shard_hashes(folder: Path) -> list[str]:
    """sha256 values recorded in the sample ``.json`` members of every tar under ``folder``."""
    out = []
    for tar in sorted(p for p in folder.rglob("*") if p.name.endswith((".tar", ".tar.gz", ".tgz"))):
        try:
            with tarfile.open(tar) as tf:
                for m in tf:
                    if m.isfile() and m.name.endswith(".json"):
                        sha = json.loads(tf.extractfile(m).read()).get("sha256")
                        if isinstance(sha, str) and len(sha) == 64:
                            out.append(sha)
        except (tarfile.TarError, OSError, ValueError) as e:
            raise ValueError(f"{tar}: unreadable shard ({type(e).__name__})") from None
    return out


def image_hashes(folder: Path) -> tuple[list[str], int]:
    """Pixel sha256 of every decodable image file under ``folder``; also the count of undecodable files."""
    out, bad = [], 0
    for p in sorted(q for q in folder.rglob("*") if q.suffix.lower() in IMAGE_EXTS and q.is_file()):
        try:
            out.append(pixel_sha256(decode_bytes(p.read_bytes()).pixels))
        except SkipError:
            bad += 1
    return out, bad


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
    for src in map(Path, sources):
        if not src.is_dir():
            raise FileNotFoundError(f"exclusion-list: folder not found: {src}")
        found = shard_hashes(src)
        kind = "shard samples"
        if not found:
            found, bad = image_hashes(src)
            kind = "images" + (f" ({bad} undecodable files ignored)" if bad else "")
        if not found:
            raise ValueError(f"exclusion-list: no shards or images under {src}")
        log(f"  {src}: {len(found)} {kind}")
        hashes.update(found)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    header = "# pixel sha256 exclusion list from: " + ", ".join(sources)
    Path(out).write_text("\n".join([header, *sorted(hashes)]) + "\n")
    log(f"wrote {len(hashes)} distinct sha256 to {out}")
    return len(hashes)
