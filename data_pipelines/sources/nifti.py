"""NIfTI volumes (optional extra: nibabel) as 2D slices along an axis, with a stride and a window."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medclip.imaging.window import WINDOW_PRESETS, window_linear, window_to_uint8

from .base import Item, Loaded, Skip, SkipError, hashed_id, normalize_modality, register_source


def _nib():
    try:
        import nibabel
    except ImportError:
        raise ImportError("NIfTI sources need nibabel: pip install 'medclip[dicom]'") from None
    return nibabel


@dataclass
class NiftiSourceConfig:
    """Settings of a ``nifti`` source."""

    type: str = "nifti"
    root: str = ""
    pattern: str = "**/*.nii*"
    split: str = "train"
    modality: str = "ct"
    anatomy: str = ""
    labels: list[str] = field(default_factory=list)  # labels of every slice
    axis: int = 2  # slicing axis of the (x, y, z) volume
    stride: int = 1  # every n-th slice
    skip_edges: float = 0.0  # drop this fraction of slices at each end (often empty)
    window: str = "minmax"  # minmax | percentile | a preset (soft_tissue, lung, bone, brain, liver)
    window_center: float | None = None
    window_width: float | None = None
    percentiles: list[float] = field(default_factory=lambda: [0.5, 99.5])
    license: str = ""

    def validate(self) -> None:
        if self.axis not in (0, 1, 2) or self.stride < 1 or not 0 <= self.skip_edges < 0.5:
            raise ValueError("axis must be 0, 1 or 2, stride >= 1 and skip_edges in [0, 0.5)")
        if self.window not in ("minmax", "percentile", *WINDOW_PRESETS):
            raise ValueError(f"window must be minmax, percentile or a preset, got {self.window!r}")
        normalize_modality(self.modality)


@register_source("nifti", NiftiSourceConfig)
class NiftiSource:
    """One item per kept slice of every volume under ``root``."""

    def __init__(self, name: str, cfg: NiftiSourceConfig, *, seed: int = 0) -> None:
        self.name, self.cfg = name, cfg

    def items(self) -> list[Item | Skip]:
        nib = _nib()
        c = self.cfg
        root = Path(c.root)
        if not root.is_dir():
            raise FileNotFoundError(f"nifti source {self.name}: root not found: {root}")
        out: list[Item | Skip] = []
        for p in sorted(q for q in root.glob(c.pattern) if q.is_file()):
            sid = hashed_id(p.relative_to(root).as_posix())
            try:
                shape = nib.load(str(p)).shape
            except Exception as e:
                out.append(Skip(self.name, sid, "unreadable", type(e).__name__, c.split))
                continue
            if len(shape) < 3:
                out.append(Skip(self.name, sid, "unsupported", f"{len(shape)}-D volume", c.split))
                continue
            n = shape[c.axis]
            lo = int(n * c.skip_edges)
            for s in range(lo, n - lo, c.stride):
                out.append(
                    Item(
                        self.name,
                        f"{sid}-s{s:04d}",
                        c.split,
                        normalize_modality(c.modality),
                        c.anatomy,
                        tuple(c.labels),
                        ref=(str(p), s),
                    )
                )
        return out

    def load(self, item: Item) -> Loaded:
        nib = _nib()
        path, s = item.ref
        try:
            img = nib.load(path)
            sl = np.asarray(img.dataobj[(slice(None),) * self.cfg.axis + (s,)], dtype=np.float64)
        except Exception as e:
            raise SkipError("unreadable", type(e).__name__) from None
        if sl.ndim > 2:
            sl = sl[..., 0]
        sl = np.rot90(sl)  # radiological display: rows = anterior-posterior / superior-inferior
        c = self.cfg
        if c.window_center is not None and c.window_width is not None:
            px = window_linear(sl, c.window_center, c.window_width)
        elif c.window in WINDOW_PRESETS:
            px = window_linear(sl, *WINDOW_PRESETS[c.window])
        elif c.window == "percentile":
            lo, hi = np.percentile(sl, c.percentiles)
            px = window_to_uint8(sl, float(lo), float(hi))
        else:
            px = window_to_uint8(sl, float(sl.min()), float(sl.max()))
        return Loaded(pixels=np.ascontiguousarray(px), extra={"meta": {"slice": {"axis": c.axis, "index": s}}})
