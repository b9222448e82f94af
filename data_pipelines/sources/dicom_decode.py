"""DICOM pixel decoding to 8-bit: modality LUT, VOI (window / VOI LUT / presets), MONOCHROME1, frames.

Only pixel data and a few non-identifying attributes (modality, photometric interpretation, rescale and
window values, body part) are read; nothing here returns or logs patient, physician, institution, date or
UID values. Error details are exception class names only, never the offending values.
"""

from __future__ import annotations

import numpy as np

from ..imageio import window_to_uint8
from .base import SkipError

# (center, width) presets in Hounsfield units (CT) or raw units
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "soft_tissue": (40.0, 400.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
    "liver": (60.0, 160.0),
}
DEFAULT_PRESET = {"ct": "soft_tissue"}  # used when the file has no VOI and the config sets none

DICOM_MODALITY = {
    "CT": "ct",
    "MR": "mri",
    "US": "ultrasound",
    "CR": "xray",
    "DX": "xray",
    "DR": "xray",
    "RG": "xray",
    "MG": "xray",
    "XA": "xray",
    "RF": "xray",
    "IO": "xray",
    "PX": "xray",
    "SM": "pathology",
    "OP": "fundus",
}


def modality_from_tag(value: str | None) -> str:
    """Map the DICOM Modality code (CT, MR, US, CR, DX, MG, SM, OP...) to a medclip modality."""
    return DICOM_MODALITY.get(str(value or "").upper().strip(), "other")


def window_linear(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """DICOM PS3.3 C.11.2.1.2.1 linear VOI function mapped to 0..255 (uint8, round half up).

    ``y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255``, clipped to [0, 255]; ``width`` must be >= 1.
    """
    if width < 1:
        raise SkipError("unsupported", "window width < 1")
    x = np.asarray(values, np.float64)
    if width == 1:
        return np.where(x > center - 0.5, 255, 0).astype(np.uint8)
    y = ((x - (center - 0.5)) / (width - 1) + 0.5) * 255.0
    return np.floor(np.clip(y, 0.0, 255.0) + 0.5).astype(np.uint8)


def _first(v) -> float:
    try:
        return float(v[0])
    except TypeError:
        return float(v)


def voi_to_uint8(
    ds, frame: np.ndarray, *, modality: str, window: str, center: float | None, width: float | None
) -> tuple[np.ndarray, dict]:
    """Grayscale frame (stored values) -> uint8 via modality LUT + VOI. Returns (pixels, how)."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    x = apply_modality_lut(frame, ds).astype(np.float64)
    how: dict = {"rescaled": "RescaleSlope" in ds or "RescaleIntercept" in ds or "ModalityLUTSequence" in ds}
    if center is not None and width is not None:
        out, how["window"] = window_linear(x, center, width), [center, width]
    elif window in WINDOW_PRESETS:
        c, w = WINDOW_PRESETS[window]
        out, how["window"] = window_linear(x, c, w), window
    elif window in ("auto", "file") and "WindowCenter" in ds and "WindowWidth" in ds:
        c, w = _first(ds.WindowCenter), _first(ds.WindowWidth)
        out, how["window"] = window_linear(x, c, w), "file"
    elif window in ("auto", "file") and "VOILUTSequence" in ds:
        y = apply_voi_lut(x, ds, index=0).astype(np.float64)
        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        out, how["window"] = window_to_uint8(y, 0.0, float(2**bits - 1)), "voi_lut"
    elif window == "auto" and modality in DEFAULT_PRESET:
        c, w = WINDOW_PRESETS[DEFAULT_PRESET[modality]]
        out, how["window"] = window_linear(x, c, w), DEFAULT_PRESET[modality]
    else:
        lo, hi = float(np.min(x)), float(np.max(x))
        out, how["window"] = window_to_uint8(x, lo, hi), "minmax"
    if str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        out = 255 - out
        how["inverted"] = True
    return out, how


def decode_frames(ds, frames: list[int], **voi) -> list[tuple[np.ndarray, dict]]:
    """Decode the requested frames of a dataset to uint8 (grayscale windowed, colour as RGB)."""
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise SkipError("no_pixels", "no pixel data")
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    try:
        arr = ds.pixel_array
    except Exception as e:  # missing decoder plugin, corrupt data
        if ts is not None and getattr(ts, "is_compressed", False):
            raise SkipError(
                "unsupported",
                f"compressed transfer syntax '{ts.name}' needs a decoder "
                "plugin (pylibjpeg / python-gdcm) that is not installed",
            ) from None
        raise SkipError("unreadable", f"pixel data: {type(e).__name__}") from None
    n = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if n == 1:
        arr = arr[None]
    photometric = str(ds.get("PhotometricInterpretation", "")).upper()
    out = []
    for f in frames:
        fr = arr[f]
        if photometric == "PALETTE COLOR":
            from pydicom.pixels import apply_color_lut

            rgb = apply_color_lut(fr, ds)
            out.append((window_to_uint8(rgb.astype(np.float64), 0.0, float(rgb.max() or 1)), {"palette": True}))
        elif samples == 3:
            rgb = fr if fr.dtype == np.uint8 else window_to_uint8(fr.astype(np.float64), 0.0, float(fr.max() or 1))
            out.append((np.ascontiguousarray(rgb), {"color": photometric.lower()}))
        else:
            out.append(voi_to_uint8(ds, fr, **voi))
    return out
