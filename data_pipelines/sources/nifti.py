"""NIfTI volumes (optional extra: nibabel) as 2D slices along an axis, with a stride and a window.

Volumes are reoriented to ``orientation`` (default RAS) before slicing and shown in the ``display``
convention (default radiological); see :mod:`medclip.imaging.nifti`. The sample json records
``slice: {axis, index, orientation, source_orientation, display}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medclip.imaging.nifti import (
    DISPLAYS,
    check_orientation,
    display_slice,
    oriented_slice,
    source_orientation,
    target_shape,
)
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
    axis: int = 2  # slicing axis of the reoriented volume (RAS: 0 sagittal, 1 coronal, 2 axial)
    orientation: str = "RAS"  # every volume is reoriented to these axis codes before slicing
    display: str = "radiological"  # radiological (patient right on image left) | neurological
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
        check_orientation(self.orientation)
        if self.display not in DISPLAYS:
            raise ValueError(f"display must be radiological or neurological, got {self.display!r}")


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
        for p in sorted(q for q in root.glob(c.pattern) if q.is_file() or q.is_symlink()):
            sid = hashed_id(p.relative_to(root).as_posix())
            if not p.exists():  # a symlink whose target is gone: counted, not silently dropped
                out.append(Skip(self.name, sid, "unreadable", "dangling symlink", c.split))
                continue
            try:
                img = nib.load(str(p))
                shape = img.shape
                if len(shape) >= 3:
                    shape = target_shape(img, c.orientation)
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
        c = self.cfg
        try:
            img = nib.load(path)
            sl = oriented_slice(img, c.axis, s, target=c.orientation)
            src = source_orientation(img)
        except SkipError:
            raise
        except Exception as e:
            raise SkipError("unreadable", type(e).__name__) from None
        sl = display_slice(sl, c.display)
        if c.window_center is not None and c.window_width is not None:
            px = window_linear(sl, c.window_center, c.window_width)
        elif c.window in WINDOW_PRESETS:
            px = window_linear(sl, *WINDOW_PRESETS[c.window])
        elif c.window == "percentile":
            lo, hi = np.percentile(sl, c.percentiles)
            px = window_to_uint8(sl, float(lo), float(hi))
        else:
            px = window_to_uint8(sl, float(sl.min()), float(sl.max()))
        slice_meta = {"axis": c.axis, "index": s, "orientation": c.orientation.upper(), "display": c.display}
        slice_meta["source_orientation"] = src
        return Loaded(pixels=np.ascontiguousarray(px), extra={"meta": {"slice": slice_meta}})
