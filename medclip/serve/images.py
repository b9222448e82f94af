"""Uploads to RGB pixels: the format is sniffed from magic bytes, sizes are checked before decoding.

Supported: PNG, JPEG, TIFF (Pillow) and DICOM (pydicom + :mod:`medclip.imaging.dicom`). The file name and
the declared content type of an upload are ignored. Nothing is written to disk. A DICOM's header values are
read only for pixel geometry, modality and windowing; patient, physician, institution, date and UID values
are never returned, logged or put in an error message.
"""

from __future__ import annotations

import io
import threading
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from medclip.imaging import WINDOW_PRESETS, DecodeError

from .errors import ApiError

WINDOWS = ("auto", "file", "minmax", *WINDOW_PRESETS)
_DICOM_LOCK = threading.Lock()


@dataclass
class Decoded:
    """A decoded upload: RGB pixels and what was done (no header values beyond these)."""

    image: Image.Image
    format: str
    info: dict = field(default_factory=dict)


def sniff(data: bytes) -> str:
    """``png``, ``jpeg``, ``tiff`` or ``dicom`` from the first bytes; ApiError 415 for anything else."""
    if not data:
        raise ApiError(400, "empty_body", "the upload is empty")
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if len(data) >= 132 and data[128:132] == b"DICM":
        return "dicom"
    raise ApiError(415, "unsupported_format", "not a PNG, JPEG, TIFF or DICOM file (checked by content)")


def _check_pixels(n: int, limit: int) -> None:
    if n > limit:
        raise ApiError(413, "too_many_pixels", f"image has {n} pixels, more than the limit of {limit}")


def _decode_pil(data: bytes, fmt: str, max_pixels: int) -> Decoded:
    # Pillow's own bomb check (DecompressionBombError above 2x PIL.Image.MAX_IMAGE_PIXELS, which
    # medclip-serve sets to its --max-pixels) stays behind the header check below
    try:
        im = Image.open(io.BytesIO(data), formats=[fmt.upper()])
        w, h = im.size  # read from the header; nothing is decoded yet
        _check_pixels(w * h * max(1, getattr(im, "n_frames", 1) if fmt == "tiff" else 1), max_pixels)
        im.load()
    except ApiError:
        raise
    except Image.DecompressionBombError:
        raise ApiError(413, "too_many_pixels", f"image is larger than the limit of {max_pixels} pixels") from None
    except Exception as e:  # truncated or corrupt data
        raise ApiError(
            422, "unreadable_image", f"the {fmt.upper()} file could not be decoded ({type(e).__name__})"
        ) from None
    mode = "RGB"
    if im.mode in ("I;16", "I;16B", "I", "F"):  # 16-bit / float grayscale: stretch to 8 bit
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = np.zeros_like(arr) if hi <= lo else (arr - lo) / (hi - lo) * 255.0
        im = Image.fromarray(arr.round().astype(np.uint8))
    return Decoded(im.convert(mode), fmt, {"size": [w, h]})


def _decode_dicom(data: bytes, max_pixels: int, window: str) -> Decoded:
    # pydicom's value warnings can quote header values (a patient name): they are silenced, and since
    # warnings filters are process-wide, DICOM decoding is serialised so no thread sees them unsilenced
    with _DICOM_LOCK:
        return _decode_dicom_locked(data, max_pixels, window)


def _decode_dicom_locked(data: bytes, max_pixels: int, window: str) -> Decoded:
    try:
        import pydicom
    except ImportError:
        raise ApiError(
            415, "dicom_unavailable", "DICOM support is not installed (pip install 'medclip[dicom]')"
        ) from None
    from medclip.imaging.dicom import decode_frames, modality_from_tag

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(io.BytesIO(data))
    except Exception as e:
        raise ApiError(422, "unreadable_dicom", f"the DICOM file could not be read ({type(e).__name__})") from None
    try:
        rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
    except (TypeError, ValueError):
        raise ApiError(422, "unreadable_dicom", "the DICOM file has invalid image dimensions") from None
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise ApiError(422, "no_pixels", "the DICOM file has no pixel data")
    if rows <= 0 or cols <= 0:
        raise ApiError(422, "unreadable_dicom", "the DICOM file has no image dimensions (Rows, Columns)")
    _check_pixels(rows * cols * frames * samples, max_pixels)
    modality = modality_from_tag(ds.get("Modality"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (pixels, how), *_ = decode_frames(ds, [0], modality=modality, window=window, center=None, width=None)
    except DecodeError as e:
        raise ApiError(422, f"dicom_{e.reason}", f"the DICOM pixels could not be decoded: {e.detail}") from None
    except Exception as e:
        raise ApiError(422, "unreadable_dicom", f"the DICOM pixels could not be decoded ({type(e).__name__})") from None
    del ds  # the header (with any patient tags) is dropped here; only the pixels and `info` go on
    info = {"size": [cols, rows], "frames": frames, "modality": modality, "window": how.get("window")}
    if how.get("inverted"):
        info["inverted"] = True
    return Decoded(Image.fromarray(pixels).convert("RGB"), "dicom", info)


def decode_upload(data: bytes, *, max_pixels: int, window: str = "auto") -> Decoded:
    """Decode an uploaded file to an RGB PIL image.

    Args:
        data: the uploaded bytes.
        max_pixels: refuse (413) images with more pixels, checked from the header before decoding.
        window: DICOM window: ``auto`` (file VOI, else modality preset, else min-max), ``file``, ``minmax``
            or a preset name of :data:`medclip.imaging.WINDOW_PRESETS`. Ignored for other formats.

    Raises:
        ApiError: 400 empty, 415 unknown format, 413 too many pixels, 422 undecodable.
    """
    if window not in WINDOWS:
        raise ApiError(422, "bad_window", f"unknown window {window!r}; choose from {', '.join(WINDOWS)}")
    fmt = sniff(data)
    if fmt == "dicom":
        return _decode_dicom(data, max_pixels, window)
    return _decode_pil(data, fmt, max_pixels)
