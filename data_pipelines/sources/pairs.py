"""The ``pairs`` source: images that come with their own text (a caption or a free-text report).

Inputs (``format``, detected from the path when ``auto``): CSV, TSV, JSON Lines, Parquet, a Hugging Face
``datasets`` folder written by ``save_to_disk`` (read offline with ``load_from_disk``), or webdataset tar
shards (re-sharded through the column mapping: columns are member extensions, ``json.<field>`` reads the
``.json`` member). Images are paths (relative to ``root``, default the table's folder) or inline bytes
(Parquet / HF ``Image`` columns, webdataset members).

Text: ``text_kind`` (or a per-row ``text_kind_column``) is ``caption`` or ``report``; see
:mod:`data_pipelines.sources.pairs_text` (scrubbing, report-to-caption). Optional labels (``label_column``
or ``label_columns``) go through the label-to-caption converter as for label sources, so a sample can carry
both kinds of caption. Every row that cannot become a sample is a counted skip: ``missing_image``,
``empty_text``, ``unsupported`` (bad modality / text kind), and at load time ``unreadable`` /
``zero_size`` (bad bytes).

Example (``configs/data/pmc_pairs.yaml`` has a full one)::

    sources:
      roco:
        type: pairs
        path: data/roco/train/radiology/traindata.csv
        root: data/roco/train/radiology/images
        image_column: name
        text_column: caption
        modality: other
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..imageio import decode_bytes
from .base import Item, Loaded, Skip, SkipError, hashed_id, normalize_modality, register_source
from .pairs_readers import FORMATS, INLINE, detect_format, dig, first, image_value, make_reader
from .pairs_text import TEXT_KINDS, CaptionSettings, EmptyText, PairRef, TextStats, process_many


@dataclass
class PairsSourceConfig:
    """Settings of a ``pairs`` source (column names accept ``;``-separated alternatives)."""

    type: str = "pairs"
    path: str = ""  # table file, folder of parquet / tar / jsonl files, or a save_to_disk folder
    format: str = "auto"  # auto | csv | tsv | jsonl | json (a JSON list) | parquet | hf | wds
    columns: list[str] = field(default_factory=list)  # column names of a headerless CSV / TSV (ROCO captions.txt)
    root: str = ""  # folder of relative image paths ("" = the table's folder)
    image_column: str = "image"  # path or bytes column; wds: member extensions, e.g. "jpg;png"
    image_suffix: str = ""  # appended to path values that lack it (ROCO names: "ROCO_00001" + ".jpg")
    image_template: str = ""  # image path from row fields, e.g. "files/p{subject_id:.2}/p{subject_id}/{dicom_id}.jpg"
    text_column: str = "caption"
    text_file_template: str = ""  # read the text from this file (path from row fields, relative to text_root)
    text_root: str = ""  # folder of text_file_template paths ("" = root)
    text_kind: str = "caption"  # caption | report
    text_kind_column: str = ""  # per-row text kind (overrides text_kind)
    id_column: str = ""  # source id ("" = the image path, or the row position)
    label_column: str = ""  # optional labels "a|b" (label_separator) -> label captions as well
    label_separator: str = "|"
    label_columns: list[str] = field(default_factory=list)  # one column per label, 1 = present
    normal_label: str = "normal"  # label of rows whose label_columns are all 0
    modality: str = "other"
    modality_column: str = ""  # per-row modality (values through modality_map, then aliases)
    modality_map: dict = field(default_factory=dict)
    anatomy: str = ""
    anatomy_column: str = ""
    split: str = "train"
    split_column: str = ""  # per-row split (a DatasetDict's split names are used when not set)
    split_map: dict = field(default_factory=lambda: {"validation": "val", "valid": "val"})
    n_report_captions: int = 3  # captions made from one report
    report_backend: str = "rules"  # report_to_captions backend
    keep_report: bool = True  # store the scrubbed report in the sample .json
    drop_texts: list[str] = field(default_factory=lambda: ["No caption found"])  # placeholders = empty text
    filter: dict = field(default_factory=dict)  # column -> allowed values (MIMIC frontal: ViewPosition: [PA, AP])
    license: str = ""
    license_column: str = ""

    def validate(self) -> None:
        if not self.path:
            raise ValueError("pairs: path is required")
        if self.format != "auto" and self.format not in FORMATS:
            raise ValueError(f"pairs: format must be auto or one of {', '.join(FORMATS)}, got {self.format!r}")
        if self.text_kind not in TEXT_KINDS:
            raise ValueError(f"pairs: text_kind must be one of {', '.join(TEXT_KINDS)}, got {self.text_kind!r}")
        if self.label_column and self.label_columns:
            raise ValueError("pairs: give at most one of label_column and label_columns")
        if self.n_report_captions < 1:
            raise ValueError("pairs: n_report_captions must be >= 1")
        normalize_modality(self.modality)


def _str(v) -> str:
    return "" if v is None else str(v).strip()


def _template(template: str, row: dict) -> str | None:
    """``template.format(**row)`` with string values (``{subject_id:.2}`` = the first two characters)."""
    try:
        return template.format(**{k: _str(v) for k, v in row.items() if isinstance(k, str)})
    except (KeyError, ValueError, IndexError):
        return None


@register_source("pairs", PairsSourceConfig, kind="pairs")
class PairsSource(CaptionSettings):
    """Rows of image-text pairs; text is processed at enumeration, images are loaded in the workers.

    Reports are captioned by one :class:`~data_pipelines.captions.reports.ReportCaptioner` per backend and
    build, made from the build's ``captions`` settings (endpoint, model, cache, attempts, concurrency):
    :meth:`use_captions`, called by :func:`data_pipelines.build.build`.
    """

    def __init__(self, name: str, cfg: PairsSourceConfig, *, seed: int = 0) -> None:
        self.name, self.cfg = name, cfg
        self.path = Path(cfg.path)
        self.format = cfg.format if cfg.format != "auto" else detect_format(self.path)
        self.stats = TextStats()
        self._reader = None

    @property
    def reader(self):
        if self._reader is None:
            self._reader = make_reader(self.format, self.path, self.cfg.image_column, self.cfg.columns)
        return self._reader

    def labels(self, row: dict) -> tuple[str, ...]:
        """Labels of a row (empty tuple when the source has none)."""
        c = self.cfg
        if c.label_column:
            v = dig(row, c.label_column)
            vals = v if isinstance(v, list) else _str(v).split(c.label_separator)
            return tuple(x for x in (_str(y) for y in vals) if x)
        if c.label_columns:
            flags = {col: _str(dig(row, col)) for col in c.label_columns}
            pos = tuple(col for col, v in flags.items() if v in ("1", "1.0", "True", "true"))
            return pos or (
                (c.normal_label,) if any(v in ("0", "0.0", "False", "false") for v in flags.values()) else ()
            )
        return ()

    def _field(self, row: dict, column: str, default: str) -> str:
        return (_str(dig(row, column)) if column else "") or default

    def items(self) -> list[Item | Skip]:
        c = self.cfg
        out: list = []
        jobs: list[tuple[str, str]] = []
        root = Path(c.root) if c.root else (self.path.parent if self.path.is_file() else self.path)
        for n, (loc, row) in enumerate(self.reader.rows()):
            r = self._row(n, loc, row, root)
            if isinstance(r, tuple):  # text to process: (text, kind, item fields)
                jobs.append(r[:2])
            out.append(r)
        results = iter(
            process_many(
                jobs,
                stats=self.stats,
                captioner=self.report_captioner(c.report_backend) if any(k == "report" for _, k in jobs) else None,
                n_report_captions=c.n_report_captions,
                report_backend=c.report_backend,
                keep_report=c.keep_report,
                drop_texts=tuple(c.drop_texts),
            )
        )
        items: list[Item | Skip] = []
        for r in out:
            if not isinstance(r, tuple):
                items.append(r)
                continue
            pt, (sid, split, modality, anatomy, labels, image, meta) = next(results), r[2]
            if isinstance(pt, EmptyText):
                items.append(Skip(self.name, sid, "empty_text", str(pt), split))
                continue
            if pt.report is not None:
                meta = {**meta, "report": pt.report}
            ref = PairRef(image, pt, tuple(sorted(meta.items())))
            items.append(Item(self.name, sid, split, modality, anatomy, labels, ref=ref))
        return items

    def _row(self, n: int, loc, row: dict, root: Path):
        """A Skip, or ``(text, kind, item fields)`` for a row whose text still has to be processed."""
        c = self.cfg
        split = self._field(row, c.split_column, _str(row.get("__split__")) or c.split)
        split = str(c.split_map.get(split, split))
        if any(_str(dig(row, col)) not in {str(v) for v in vals} for col, vals in c.filter.items()):
            return Skip(self.name, f"row{n:09d}", "filtered", "row filter", split)
        img = image_value(_template(c.image_template, row) if c.image_template else first(row, c.image_column))
        sid = self._field(row, c.id_column, "") or (img if img and img != INLINE else "") or _str(row.get("__key__"))
        sid = sid or f"row{n:09d}"
        if len(sid) > 200:
            sid = hashed_id(sid)
        if img is None:
            return Skip(self.name, sid, "missing_image", "no image in the row", split)
        try:
            raw_mod = self._field(row, c.modality_column, c.modality)
            modality = normalize_modality(str(c.modality_map.get(raw_mod, raw_mod)))
        except ValueError:
            return Skip(self.name, sid, "unsupported", "unknown modality", split)
        kind = self._field(row, c.text_kind_column, c.text_kind).lower()
        if kind not in TEXT_KINDS:
            return Skip(self.name, sid, "unsupported", "unknown text kind", split)
        if c.text_file_template:
            try:
                tpath = Path(c.text_root or root) / (_template(c.text_file_template, row) or "")
                text = tpath.read_text(encoding="utf-8", errors="replace")
            except (OSError, ValueError):
                return Skip(self.name, sid, "empty_text", "text file missing", split)
        else:
            text = first(row, c.text_column)
        if img != INLINE:
            p = img + c.image_suffix if c.image_suffix and not img.endswith(c.image_suffix) else img
            img = str(Path(p) if Path(p).is_absolute() else root / p)
        meta = {"text_kind": kind}
        lic = self._field(row, c.license_column, c.license)
        if lic:
            meta["license"] = lic
        anatomy = self._field(row, c.anatomy_column, c.anatomy)
        fields = (sid, split, modality, anatomy, self.labels(row), loc if img == INLINE else img, meta)
        return _str(text), kind, fields

    def load(self, item: Item) -> Loaded:
        ref = item.ref
        if isinstance(ref.image, str):
            try:
                data = Path(ref.image).read_bytes()
            except OSError as e:
                reason = "unreadable" if Path(ref.image).exists() else "missing_image"
                raise SkipError(reason, type(e).__name__) from None
        else:
            try:
                data = self.reader.image_bytes(ref.image)
            except (OSError, KeyError, IndexError, ValueError) as e:
                raise SkipError("unreadable", type(e).__name__) from None
        loaded = decode_bytes(bytes(data or b""))
        loaded.extra["meta"] = dict(ref.meta)
        return loaded
