"""DICOM sources (optional extra ``dicom``: pydicom): a folder of files, and the ``pydicom-data`` test files.

Sample ids are hashes of the file path (DICOM file names are often UIDs), plus ``-fNNNN`` per frame. The
modality comes from the config or, when unset, from the DICOM Modality tag; anatomy from the config or
Body Part Examined. Labels come from the config (``labels``) or a CSV (``labels_csv``: path column relative
to ``root`` + label column); files without labels are skipped as ``missing_labels``.
"""

from __future__ import annotations

import csv
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from medclip.imaging.dicom import decode_frames, modality_from_tag, non_image_reason
from medclip.imaging.window import WINDOW_PRESETS

from .base import Item, Loaded, Skip, SkipError, hashed_id, normalize_modality, register_source


def _pydicom():
    try:
        import pydicom
    except ImportError:
        raise ImportError("DICOM sources need pydicom: pip install 'medclip[dicom]'") from None
    logging.getLogger("pydicom").setLevel(logging.CRITICAL)  # its messages can quote tag values (PHI)
    return pydicom


def _quiet(fn):
    """Run ``fn`` with pydicom warnings silenced: warning texts may contain tag values."""

    def wrapper(*a, **k):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*a, **k)

    return wrapper


@dataclass
class DicomSourceConfig:
    """Settings of a ``dicom`` source."""

    type: str = "dicom"
    root: str = ""  # folder scanned recursively
    pattern: str = "**/*.dcm"  # glob below root
    split: str = "train"
    modality: str | None = None  # None = from the Modality tag (CT, MR, US, CR/DX/MG, SM, OP...)
    anatomy: str = ""  # "" = Body Part Examined, else "body"
    labels: list[str] = field(default_factory=list)  # labels for every file (when no labels_csv)
    labels_csv: str = ""  # CSV with `path_column` (relative to root) and `label_column` ("a|b" multi-label)
    path_column: str = "path"
    label_column: str = "label"
    window: str = "auto"  # auto (file VOI > modality preset > min-max) | file | minmax | a preset name
    window_center: float | None = None  # explicit window, overrides everything
    window_width: float | None = None
    frames: str = "all"  # all | middle | first
    frame_stride: int = 1  # with frames=all: every n-th frame
    include_modalities: list[str] = field(default_factory=list)  # DICOM codes to keep (empty = all)
    license: str = ""

    def validate(self) -> None:
        ok = ("auto", "file", "minmax", *WINDOW_PRESETS)
        if self.window not in ok:
            raise ValueError(f"window must be one of {', '.join(ok)}, got {self.window!r}")
        if self.frames not in ("all", "middle", "first"):
            raise ValueError(f"frames must be all, middle or first, got {self.frames!r}")
        if self.frame_stride < 1:
            raise ValueError("frame_stride must be >= 1")
        if (self.window_center is None) != (self.window_width is None):
            raise ValueError("window_center and window_width must be given together")
        if self.modality is not None:
            normalize_modality(self.modality)


def _frame_indices(n: int, mode: str, stride: int) -> list[int]:
    if mode == "first" or n == 1:
        return [0]
    if mode == "middle":
        return [n // 2]
    return list(range(0, n, stride))


@register_source("dicom", DicomSourceConfig)
class DicomSource:
    """Files under ``root`` matching ``pattern``; one item per (file, frame)."""

    def __init__(self, name: str, cfg: DicomSourceConfig, *, seed: int = 0) -> None:
        self.name, self.cfg = name, cfg

    def files(self) -> list[tuple[str, str]]:
        """``(absolute path, path relative to root)`` pairs, sorted (dangling symlinks included: skipped later)."""
        root = Path(self.cfg.root)
        if not root.is_dir():
            raise FileNotFoundError(f"dicom source {self.name}: root folder not found: {root}")
        return sorted(
            (str(p), p.relative_to(root).as_posix())
            for p in root.glob(self.cfg.pattern)
            if p.is_file() or p.is_symlink()
        )

    def _label_map(self) -> dict[str, tuple[str, ...]] | None:
        if not self.cfg.labels_csv:
            return None
        out = {}
        with open(self.cfg.labels_csv, newline="") as f:
            for row in csv.DictReader(f):
                labs = tuple(x.strip() for x in (row.get(self.cfg.label_column) or "").split("|") if x.strip())
                out[(row.get(self.cfg.path_column) or "").strip()] = labs
        return out

    @_quiet
    def items(self) -> list[Item | Skip]:
        """Read headers (no pixels) to get modality, body part and frame counts."""
        pydicom = _pydicom()
        labels_by_path = self._label_map()
        out: list[Item | Skip] = []
        for path, rel in self.files():
            sid = hashed_id(rel)
            if not os.path.exists(path):  # a symlink whose target is gone
                out.append(Skip(self.name, sid, "unreadable", "dangling symlink", self.cfg.split))
                continue
            if os.path.getsize(path) == 0:
                out.append(Skip(self.name, sid, "zero_size", "empty file", self.cfg.split))
                continue
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=True)
            except Exception as e:
                out.append(Skip(self.name, sid, "unreadable", type(e).__name__, self.cfg.split))
                continue
            reason = non_image_reason(ds)
            if reason:  # SEG, RT, SR, PR, KO...: decided by SOP Class UID, even with PixelData
                out.append(Skip(self.name, sid, "unsupported", reason, self.cfg.split))
                continue
            code = str(ds.get("Modality", "") or "").upper()
            if self.cfg.include_modalities and code not in self.cfg.include_modalities:
                # fixed detail: the Modality value itself is a header value and stays out of the manifest
                out.append(Skip(self.name, sid, "unsupported", "modality not in include_modalities", self.cfg.split))
                continue
            modality = normalize_modality(self.cfg.modality) if self.cfg.modality else modality_from_tag(code)
            anatomy = self.cfg.anatomy or str(ds.get("BodyPartExamined", "") or "").strip().lower() or "body"
            labels = labels_by_path.get(rel, ()) if labels_by_path is not None else tuple(self.cfg.labels)
            try:
                n = int(ds.get("NumberOfFrames", 1) or 1)
            except (TypeError, ValueError) as e:  # a malformed count: skipped, and the value is not quoted
                out.append(Skip(self.name, sid, "unreadable", f"NumberOfFrames: {type(e).__name__}", self.cfg.split))
                continue
            for f in _frame_indices(n, self.cfg.frames, self.cfg.frame_stride):
                out.append(
                    Item(self.name, f"{sid}-f{f:04d}", self.cfg.split, modality, anatomy, tuple(labels), ref=(path, f))
                )
        return out

    @_quiet
    def load(self, item: Item) -> Loaded:
        """Decode one frame to 8-bit."""
        pydicom = _pydicom()
        path, frame = item.ref
        try:
            ds = pydicom.dcmread(path)
        except Exception as e:
            raise SkipError("unreadable", type(e).__name__) from None
        ((pixels, how),) = decode_frames(
            ds,
            [frame],
            modality=item.modality,
            window=self.cfg.window,
            center=self.cfg.window_center,
            width=self.cfg.window_width,
        )
        return Loaded(pixels=pixels, extra={"meta": {"dicom": {**how, "frame": frame}}})


def local_pydicom_files() -> list[str]:
    """DICOM test files present on disk (pydicom's own and installed external sources such as
    ``pydicom-data``), without triggering any download."""
    pydicom = _pydicom()
    import pydicom.data as pdata
    from pydicom.data.data_manager import external_data_sources

    roots = [Path(pdata.__file__).parent / "test_files"]
    for src in external_data_sources().values():
        p = getattr(src, "data_path", None)
        if p is not None:
            roots.append(Path(p))
    del pydicom
    return sorted({str(p) for r in roots if r.is_dir() for p in r.rglob("*.dcm") if p.is_file()})


@dataclass
class PydicomDataSourceConfig(DicomSourceConfig):
    """The real DICOM test images shipped with pydicom / pydicom-data (a small real-image source)."""

    type: str = "pydicom_data"
    include_modalities: list[str] = field(default_factory=lambda: ["CT", "MR", "US", "CR", "DX", "MG"])
    frames: str = "first"
    label_by_anatomy: bool = True  # label = anatomy (organ label, UniMed RadImageNet style) when no labels
    max_files: int = 0  # 0 = all


@register_source("pydicom_data", PydicomDataSourceConfig)
class PydicomDataSource(DicomSource):
    """DICOM images from the locally installed pydicom test data (no downloads)."""

    def files(self) -> list[tuple[str, str]]:
        files = local_pydicom_files()
        if self.cfg.max_files:
            files = files[: self.cfg.max_files]
        return [(p, f"{Path(p).parent.name}/{Path(p).name}") for p in files]

    def items(self) -> list[Item | Skip]:
        out = super().items()
        if self.cfg.label_by_anatomy and not self.cfg.labels and not self.cfg.labels_csv:
            out = [
                Item(i.source, i.source_id, i.split, i.modality, i.anatomy, (i.anatomy,), i.ref)
                if isinstance(i, Item) and not i.labels
                else i
                for i in out
            ]
        return out
