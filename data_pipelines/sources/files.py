"""Image-file sources: ``folder`` (ImageFolder: one sub-folder per class) and ``csv`` (a table with a path
column and single-label or multi-label columns, CheXpert / NIH style).

CSV label formats:

* ``label_column: Finding Labels`` with ``label_separator: "|"`` (NIH ChestX-ray14 style), or
* ``label_columns: [Atelectasis, Cardiomegaly, ...]`` with values 1 / 0 / -1 / blank (CheXpert style);
  ``uncertain_policy`` decides -1: ``ignore`` (dropped), ``positive`` or ``negative`` (absent). A row left
  without positives gets ``normal_label`` when every listed value is 0, and is skipped otherwise
  (``missing_labels``). The converter's own rules (``normal`` never mixed with findings) apply afterwards.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from ..imageio import decode_bytes
from .base import Item, Loaded, Skip, SkipError, normalize_modality, register_source

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


@dataclass
class FolderSourceConfig:
    """Settings of a ``folder`` source: ``root/<class>/<image>`` (or ``root/<split>/<class>/<image>``)."""

    type: str = "folder"
    root: str = ""
    modality: str = "other"
    anatomy: str = ""
    split: str = "train"  # split of every image; ignored when split_dirs is true
    split_dirs: bool = False  # root/<split>/<class>/... layout
    class_map: dict = field(default_factory=dict)  # folder name -> label (default: the folder name)
    license: str = ""

    def validate(self) -> None:
        normalize_modality(self.modality)


@register_source("folder", FolderSourceConfig)
class FolderSource:
    """Images in class folders; the label is the folder name (or ``class_map[folder]``)."""

    def __init__(self, name: str, cfg: FolderSourceConfig, *, seed: int = 0) -> None:
        self.name, self.cfg = name, cfg
        self.modality = normalize_modality(cfg.modality)

    def items(self) -> list[Item | Skip]:
        root = Path(self.cfg.root)
        if not root.is_dir():
            raise FileNotFoundError(f"folder source {self.name}: root not found: {root}")
        tops = (
            [(d.name, d) for d in sorted(root.iterdir()) if d.is_dir()]
            if self.cfg.split_dirs
            else [(self.cfg.split, root)]
        )
        out: list[Item | Skip] = []
        for split, base in tops:
            for cdir in sorted(d for d in base.iterdir() if d.is_dir()):
                label = str(self.cfg.class_map.get(cdir.name, cdir.name)).replace("_", " ").strip()
                for p in sorted(cdir.rglob("*")):
                    if p.suffix.lower() not in IMAGE_EXTS:
                        continue
                    rel = p.relative_to(root).as_posix()
                    if p.is_symlink() and not p.exists():  # target gone: counted, not silently dropped
                        out.append(Skip(self.name, rel, "unreadable", "dangling symlink", split))
                    elif p.is_file():
                        out.append(
                            Item(
                                self.name,
                                rel,
                                split,
                                self.modality,
                                self.cfg.anatomy,
                                (label,) if label else (),
                                ref=str(p),
                            )
                        )
        return out

    def load(self, item: Item) -> Loaded:
        return load_file(item.ref)


def load_file(path: str) -> Loaded:
    """Read and decode an image file (skip reasons: unreadable, zero_size)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise SkipError("unreadable", type(e).__name__) from None
    return decode_bytes(data)


@dataclass
class CsvSourceConfig:
    """Settings of a ``csv`` source."""

    type: str = "csv"
    csv: str = ""  # the table
    root: str = ""  # image paths are relative to this folder ("" = the CSV's folder)
    path_column: str = "path"
    label_column: str = ""  # single column of labels ("a|b" with label_separator)
    label_separator: str = "|"
    label_columns: list[str] = field(default_factory=list)  # one column per label, values 1/0/-1/blank
    uncertain_policy: str = "ignore"  # -1 values: ignore | positive | negative
    normal_label: str = "normal"  # label of rows whose label columns are all 0
    no_finding_values: list[str] = field(default_factory=lambda: ["No Finding", "normal"])  # -> normal_label
    modality: str = "xray"
    modality_column: str = ""  # per-row modality (overrides `modality`)
    anatomy: str = ""
    split: str = "train"
    split_column: str = ""  # per-row split (overrides `split`)
    license: str = ""

    def validate(self) -> None:
        if bool(self.label_column) == bool(self.label_columns):
            raise ValueError("give exactly one of label_column (single/separated) and label_columns (one per label)")
        if self.uncertain_policy not in ("ignore", "positive", "negative"):
            raise ValueError(f"uncertain_policy must be ignore, positive or negative, got {self.uncertain_policy!r}")
        normalize_modality(self.modality)


def _flag(value: str) -> float | None:
    v = (value or "").strip()
    if not v:
        return None
    try:
        return float(v)
    except ValueError:
        return None


@register_source("csv", CsvSourceConfig)
class CsvSource:
    """Rows of a CSV table; images are loaded from ``root / row[path_column]``."""

    def __init__(self, name: str, cfg: CsvSourceConfig, *, seed: int = 0) -> None:
        self.name, self.cfg = name, cfg

    def row_labels(self, row: dict) -> tuple[str, ...] | None:
        """Positive labels of a row after the uncertain policy; None when nothing can be said."""
        c = self.cfg
        normals = {x.lower() for x in c.no_finding_values}
        if c.label_column:
            labs = [x.strip() for x in (row.get(c.label_column) or "").split(c.label_separator) if x.strip()]
            return tuple(c.normal_label if x.lower() in normals else x for x in labs) or None
        pos, known = [], 0
        for col in c.label_columns:
            v = _flag(row.get(col, ""))
            if v is None:
                continue
            known += 1
            if v == 1 or (v == -1 and c.uncertain_policy == "positive"):
                pos.append(col)
            elif v == -1 and c.uncertain_policy == "ignore":
                known -= 1
        if pos:
            return tuple(c.normal_label if x.lower() in normals else x for x in pos)
        return (c.normal_label,) if known else None

    def items(self) -> list[Item | Skip]:
        c = self.cfg
        path = Path(c.csv)
        if not path.is_file():
            raise FileNotFoundError(f"csv source {self.name}: table not found: {path}")
        root = Path(c.root) if c.root else path.parent
        out: list[Item | Skip] = []
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            if c.path_column not in (reader.fieldnames or []):
                raise ValueError(f"csv source {self.name}: no column {c.path_column!r} in {path}")
            for i, row in enumerate(reader):
                rel = (row.get(c.path_column) or "").strip()
                split = (row.get(c.split_column) or "").strip() if c.split_column else c.split
                sid = rel or f"row{i}"
                labels = self.row_labels(row)
                if not rel or labels is None:
                    out.append(
                        Skip(
                            self.name,
                            sid,
                            "missing_labels" if rel else "unreadable",
                            "no labels" if rel else "empty path",
                            split or c.split,
                        )
                    )
                    continue
                mod = (
                    normalize_modality(row.get(c.modality_column) or c.modality)
                    if c.modality_column
                    else (normalize_modality(c.modality))
                )
                out.append(Item(self.name, sid, split or c.split, mod, c.anatomy, labels, ref=str(root / rel)))
        return out

    def load(self, item: Item) -> Loaded:
        return load_file(item.ref)
