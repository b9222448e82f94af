"""A damaged-input shard corpus (issue 12), generated: good shards plus every kind of damage we know of.

``write_damaged_corpus(folder)`` writes 8-sample shards (:func:`shard_fixtures.write_shards`) and damages
copies of them; ``sizes.json`` keeps the count each shard was written with (8), as after a build whose files
were damaged later; ``manifest.json`` lists the files as they are now (so verify's sha256 check is quiet).
:func:`independent_count` opens each file with Python's ``tarfile`` (not medclip's reader) to find what a
correct reader must deliver.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import zlib
from pathlib import Path

from PIL import Image
from shard_fixtures import write_shards

PER = 8
HTML = b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body>" + b"<p>Not Found</p>" * 80 + b"</html>"


def _member_offsets(data: bytes) -> list[tuple[str, int, int]]:
    """(name, header offset, data offset) of every member of an uncompressed tar."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return [(m.name, m.offset, m.offset_data) for m in tf]


def write_damaged_corpus(folder: Path) -> dict[str, str]:
    """Write the corpus; returns {shard file name: what was done to it}."""
    folder = Path(folder)
    src = write_shards(folder / "_src", n=PER * 12, shards=12, corrupt=(PER * 9 + 2,), image_format="jpg")
    raw = {i: (src / f"train-{i:06d}.tar").read_bytes() for i in range(12)}
    folder.mkdir(parents=True, exist_ok=True)
    kinds: dict[str, str] = {}

    def put(i: int, data: bytes, kind: str, suffix: str = ".tar") -> None:
        name = f"train-{i:06d}{suffix}"
        (folder / name).write_bytes(data)
        kinds[name] = kind

    put(0, raw[0], "good")
    put(1, raw[1], "good")
    offs = _member_offsets(raw[2])  # 3 members per sample: jpg, txt, json
    put(2, raw[2][: offs[9][2] + 100], "truncated inside member 9's data (sample 3's image)")
    offs = _member_offsets(raw[3])
    put(3, raw[3][: offs[12][1]], "truncated at a block boundary, before sample 4's first header")
    offs = _member_offsets(raw[4])
    put(4, raw[4][: offs[7][1] + 300], "truncated inside member 7's header")
    put(5, b"", "zero-byte file")
    put(6, HTML, "an HTML error page saved as .tar")
    bad = bytearray(raw[7])
    h = _member_offsets(raw[7])[14][1]
    bad[h : h + 20] = b"garbage garbage garb"  # header checksum fails: sample 4's .json and the rest are lost
    put(7, bytes(bad), "corrupt header of member 14 (sample 4's .json)")
    put(8, raw[8], "good file, sizes.json says 3 more")
    put(9, raw[9], "good tar with one undecodable image (sample 2)")
    put(10, gzip.compress(raw[10]), "good gzip shard", suffix=".tar.gz")
    gz = gzip.compress(raw[11])
    put(11, gz[: len(gz) * 2 // 3], "gzip shard truncated at 2/3", suffix=".tgz")
    sizes = {name: PER for name in kinds}
    sizes["train-000008.tar"] = PER + 3
    (folder / "sizes.json").write_text(json.dumps(sizes, indent=1))
    shards = [{"file": n, "sha256": hashlib.sha256((folder / n).read_bytes()).hexdigest()} for n in sorted(kinds)]
    (folder / "manifest.json").write_text(json.dumps({"shards": shards, "num_samples": sum(sizes.values())}))
    return kinds


def _tar_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":  # what a truncated gzip stream yields before it ends
        return zlib.decompressobj(wbits=31).decompress(data)
    return data


def _usable(members: dict[str, bytes]) -> bool:
    if "jpg" not in members or "json" not in members:
        return False
    try:
        meta = json.loads(members["json"])
        Image.open(io.BytesIO(members["jpg"])).load()
    except Exception:
        return False
    return bool(meta.get("captions"))


def independent_count(folder: Path) -> dict:
    """What ``tarfile`` finds in each shard of ``folder``.

    A sample is *complete* when its members were read in full and a member of another sample (or the
    end-of-archive blocks) follows them; *good* when it is complete, its image decodes and it has captions.
    Returns ``{"complete": {shard: n}, "good": set of keys, "damaged": {shard: (complete, expected)},
    "undecodable": n}``.
    """
    folder = Path(folder)
    sizes = json.loads((folder / "sizes.json").read_text())
    out = {"complete": {}, "good": set(), "damaged": {}, "undecodable": 0}
    for name, expected in sorted(sizes.items()):
        data = _tar_bytes(folder / name)
        groups: dict[str, dict[str, bytes]] = {}
        failed_key, clean = None, False
        try:
            tf = tarfile.open(fileobj=io.BytesIO(data))
        except tarfile.ReadError:  # not a tar at all (empty, HTML)
            tf = None
        while tf is not None:
            try:
                m = tf.next()
            except tarfile.ReadError:
                break
            if m is None:  # end-of-archive blocks, or an unreadable header (tarfile stops silently)
                end = tf.offset
                clean = len(data) >= end + 1024 and data[end : end + 1024] == bytes(1024)
                break
            key, _, ext = m.name.partition(".")
            content = tf.extractfile(m).read() if m.offset_data + m.size <= len(data) else b""
            if len(content) != m.size:
                failed_key = key
                break
            groups.setdefault(key, {})[ext] = content
        keys = list(groups)
        if keys and not clean and failed_key in (None, keys[-1]):
            keys = keys[:-1]  # the sample being read when the file went bad may be incomplete
        out["complete"][name] = len(keys)
        if not clean or len(keys) != expected:
            out["damaged"][name] = (len(keys), expected)
        for k in keys:
            if _usable(groups[k]):
                out["good"].add(k)
            else:
                out["undecodable"] += 1
    return out
