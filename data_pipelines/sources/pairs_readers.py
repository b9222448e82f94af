"""Row readers of the ``pairs`` source: CSV / TSV, JSON Lines, Parquet, Hugging Face ``save_to_disk`` folders
and webdataset tar shards.

A reader enumerates rows as ``(locator, row)``: ``row`` maps column names to values (a dotted name reaches
into nested JSON objects; webdataset members are columns named by extension, ``json.<field>`` reads a field
of the ``.json`` member), and the image value is either a path (str), :data:`INLINE` (bytes stored in the
row; ``image_bytes(locator)`` fetches them in the worker) or None (missing). pyarrow and datasets are
imported only by the readers that need them (``pip install medclip[pairs]``).
"""

from __future__ import annotations

import csv
import gzip
import json
import tarfile
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

INLINE = "<inline>"
FORMATS = ("csv", "tsv", "jsonl", "json", "parquet", "hf", "wds")


def detect_format(path: Path) -> str:
    """Format from the path: suffix of a file, or what a folder holds."""
    name = path.name.lower().removesuffix(".gz")
    sufs = ((".csv", "csv"), (".tsv", "tsv"), (".txt", "tsv"), (".jsonl", "jsonl"), (".json", "json"),
            (".parquet", "parquet"), (".tar", "wds"))  # fmt: skip
    for suf, fmt in sufs:
        if name.endswith(suf):
            return fmt
    if path.is_dir():
        if (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file():
            return "hf"
        for fmt, pat in (("parquet", "*.parquet"), ("wds", "*.tar"), ("jsonl", "*.jsonl")):
            if any(path.glob(pat)):
                return fmt
    raise ValueError(f"cannot tell the format of {path}; set format: one of {', '.join(FORMATS)}")


def dig(row: dict, name: str):
    """``row[name]``, or the nested value of a dotted name (``a.b``) when no column has that exact name."""
    if name in row:
        return row[name]
    cur = row
    for part in name.split("."):
        if isinstance(cur, (bytes, bytearray)):
            try:
                cur = json.loads(cur)
            except ValueError:
                return None
        if isinstance(cur, list) and part.lstrip("-").isdigit() and -len(cur) <= int(part) < len(cur):
            cur = cur[int(part)]  # list index: conversations.1.value
        elif isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            return None
    return cur


def first(row: dict, names: str):
    """The first non-empty value among ``;``-separated alternative column names."""
    for n in names.split(";"):
        v = dig(row, n.strip())
        if v is not None and v != "" and v != b"":
            return v
    return None


def _files(path: Path, pattern: str) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"pairs source: not found: {path}")
    return sorted(path.rglob(pattern))


def image_value(v):
    """Classify an image cell: a path (str), INLINE (bytes present) or None."""
    if isinstance(v, dict):  # HF / parquet image struct {"bytes": ..., "path": ...}
        return INLINE if v.get("bytes") else (str(v["path"]) if v.get("path") else None)
    if isinstance(v, (bytes, bytearray)):
        return INLINE if len(v) else None
    if isinstance(v, str):
        return v.strip() or None
    return None


def _open_text(f: Path):
    if f.name.endswith(".gz"):
        return gzip.open(f, "rt", newline="", encoding="utf-8")
    return open(f, newline="", encoding="utf-8")


class TableReader:
    """CSV / TSV (optionally gzipped, optionally headerless) / JSON Lines / JSON-array rows (images by path)."""

    def __init__(self, path: Path, fmt: str, columns: list[str] | None = None):
        self.path, self.fmt, self.columns = path, fmt, list(columns or []) or None

    def rows(self) -> Iterator[tuple[object, dict]]:
        for f in _files(self.path, f"*.{self.fmt}*"):
            with _open_text(f) as fh:
                if self.fmt == "jsonl":
                    for i, line in enumerate(fh):
                        if line.strip():
                            yield (str(f), i), json.loads(line)
                elif self.fmt == "json":
                    doc = json.load(fh)
                    for i, row in enumerate(doc if isinstance(doc, list) else doc.get("data", [])):
                        yield (str(f), i), row
                else:
                    delim = "\t" if self.fmt == "tsv" else ","
                    for i, row in enumerate(csv.DictReader(fh, fieldnames=self.columns, delimiter=delim)):
                        yield (str(f), i), row

    def image_bytes(self, loc) -> bytes:  # pragma: no cover - table rows never hold inline bytes
        raise ValueError("table rows hold image paths only")


class ParquetReader:
    """Parquet files (one file or a folder of them); inline image bytes are re-read by row group.

    Row groups read back for their images stay in a least-recently-used cache of ``cache_bytes`` (at least
    two groups): a build visits the samples in shuffled order, so every row group is needed again and again.
    """

    def __init__(self, path: Path, image_column: str, cache_bytes: int = 256 << 20):
        import pyarrow.parquet as pq

        self.pq, self.path, self.col = pq, path, image_column.split(";")[0].split(".")[0]
        self._cache: OrderedDict = OrderedDict()  # (file, row group) -> (values, bytes)
        self.cache_bytes, self._held = cache_bytes, 0
        self.reads = 0  # row groups read for their images

    def rows(self) -> Iterator[tuple[object, dict]]:
        for f in _files(self.path, "*.parquet"):
            pf = self.pq.ParquetFile(f)
            for rg in range(pf.num_row_groups):
                for i, row in enumerate(pf.read_row_group(rg).to_pylist()):
                    yield (str(f), rg, i), row

    def image_bytes(self, loc) -> bytes:
        f, rg, i = loc
        hit = self._cache.get((f, rg))
        if hit is None:
            table = self.pq.ParquetFile(f).read_row_group(rg, columns=[self.col])
            hit = self._cache[(f, rg)] = (table.column(0).to_pylist(), int(table.nbytes))
            self._held += hit[1]
            self.reads += 1
            while len(self._cache) > 2 and self._held > self.cache_bytes:
                self._held -= self._cache.popitem(last=False)[1][1]
        else:
            self._cache.move_to_end((f, rg))
        v = hit[0][i]
        return v["bytes"] if isinstance(v, dict) else v


class HFReader:
    """A ``datasets`` folder written by ``save_to_disk`` (a Dataset, or a DatasetDict: one split each)."""

    def __init__(self, path: Path, image_column: str):
        import datasets

        self.path, self.col = path, image_column.split(";")[0].split(".")[0]
        obj = datasets.load_from_disk(str(path))
        parts = dict(obj) if isinstance(obj, datasets.DatasetDict) else {"": obj}
        self.parts = {}
        for name, ds in parts.items():
            feat = ds.features.get(self.col)
            if isinstance(feat, datasets.Image) and feat.decode:
                ds = ds.cast_column(self.col, datasets.Image(decode=False))
            self.parts[name] = ds

    def rows(self) -> Iterator[tuple[object, dict]]:
        for name in sorted(self.parts):
            for i, row in enumerate(self.parts[name]):
                if name:
                    row = dict(row, __split__=name)
                yield (name, i), row

    def image_bytes(self, loc) -> bytes:
        name, i = loc
        v = self.parts[name][i][self.col]
        return v["bytes"] if isinstance(v, dict) else v


class WdsReader:
    """Webdataset tar shards: one row per key; members read back by offset in the worker."""

    TEXT_EXTS = ("txt", "json", "cls", "caption", "report")

    def __init__(self, path: Path, image_column: str):
        self.path, self.image_exts = path, [e.strip() for e in image_column.split(";")]

    def rows(self) -> Iterator[tuple[object, dict]]:
        for f in _files(self.path, "*.tar"):
            groups: OrderedDict[str, dict] = OrderedDict()
            with tarfile.open(f) as tf:
                for m in tf:
                    if not m.isfile():
                        continue
                    base, _, ext = m.name.rpartition("/")[2].partition(".")
                    key = m.name.rpartition("/")[0] + "/" + base if "/" in m.name else base
                    g = groups.setdefault(key, {"__key__": key})
                    if ext in self.image_exts:
                        g[ext] = (m.offset_data, m.size) if m.size else None
                    elif ext.split(".")[-1] in self.TEXT_EXTS:
                        data = tf.extractfile(m).read()
                        g[ext] = json.loads(data) if ext.endswith("json") else data.decode("utf-8", "replace")
            for g in groups.values():
                row, loc = dict(g), None
                for e in self.image_exts:
                    if g.get(e):
                        row[e], loc = INLINE, (str(f), *g[e])
                        break
                yield (loc or (str(f), -1, 0)), row

    def image_bytes(self, loc) -> bytes:
        f, off, size = loc
        with open(f, "rb") as fh:
            fh.seek(off)
            return fh.read(size)


def make_reader(fmt: str, path: Path, image_column: str, columns: list[str] | None = None):
    """The reader of ``fmt`` for ``path`` (``columns``: names of a headerless CSV / TSV's columns)."""
    if fmt in ("csv", "tsv", "jsonl", "json"):
        return TableReader(path, fmt, columns)
    if fmt == "parquet":
        return ParquetReader(path, image_column)
    if fmt == "hf":
        return HFReader(path, image_column)
    if fmt == "wds":
        return WdsReader(path, image_column)
    raise ValueError(f"unknown pairs format {fmt!r}; expected one of {', '.join(FORMATS)}")
