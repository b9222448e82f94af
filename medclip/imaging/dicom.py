"""DICOM pixel decoding to 8-bit: modality LUT, VOI (window / VOI LUT / presets), MONOCHROME1, frames.

Shared by the shard builder (``data_pipelines``) and any service that decodes uploaded DICOM files; pydicom
is imported lazily (optional extra ``dicom``). Only pixel data and a few non-identifying attributes
(modality, photometric interpretation, rescale and window values) are read; nothing here returns or logs
patient, physician, institution, date or UID values. Error details are exception class names only.
"""

from __future__ import annotations

import numpy as np

from .errors import DecodeError
from .window import DEFAULT_PRESET, WINDOW_PRESETS, window_linear, window_to_uint8

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


# Non-image SOP classes, skipped by SOP Class UID (``unsupported``, "non-image SOP class: <name>") even when
# they carry PixelData (a SEG mask or an RT dose grid is not a training image). UID -> name (PS3.6 / PS3.4).
NON_IMAGE_SOP_CLASSES: dict[str, str] = {
    # segmentation, registration, raw data
    "1.2.840.10008.5.1.4.1.1.66": "Raw Data Storage",
    "1.2.840.10008.5.1.4.1.1.66.1": "Spatial Registration Storage",
    "1.2.840.10008.5.1.4.1.1.66.2": "Spatial Fiducials Storage",
    "1.2.840.10008.5.1.4.1.1.66.3": "Deformable Spatial Registration Storage",
    "1.2.840.10008.5.1.4.1.1.66.4": "Segmentation Storage",
    "1.2.840.10008.5.1.4.1.1.66.5": "Surface Segmentation Storage",
    "1.2.840.10008.5.1.4.1.1.66.6": "Tractography Results Storage",
    "1.2.840.10008.5.1.4.1.1.66.7": "Label Map Segmentation Storage",
    "1.2.840.10008.5.1.4.1.1.67": "Real World Value Mapping Storage",
    # radiotherapy (RT Image Storage, 481.1, is an image and is kept)
    "1.2.840.10008.5.1.4.1.1.481.2": "RT Dose Storage",
    "1.2.840.10008.5.1.4.1.1.481.3": "RT Structure Set Storage",
    "1.2.840.10008.5.1.4.1.1.481.4": "RT Beams Treatment Record Storage",
    "1.2.840.10008.5.1.4.1.1.481.5": "RT Plan Storage",
    "1.2.840.10008.5.1.4.1.1.481.6": "RT Brachy Treatment Record Storage",
    "1.2.840.10008.5.1.4.1.1.481.7": "RT Treatment Summary Record Storage",
    "1.2.840.10008.5.1.4.1.1.481.8": "RT Ion Plan Storage",
    "1.2.840.10008.5.1.4.1.1.481.9": "RT Ion Beams Treatment Record Storage",
    "1.2.840.10008.5.1.4.1.1.481.10": "RT Physician Intent Storage",
    "1.2.840.10008.5.1.4.1.1.481.11": "RT Segment Annotation Storage",
    # structured reports and key object selection
    "1.2.840.10008.5.1.4.1.1.88.11": "Basic Text SR Storage",
    "1.2.840.10008.5.1.4.1.1.88.22": "Enhanced SR Storage",
    "1.2.840.10008.5.1.4.1.1.88.33": "Comprehensive SR Storage",
    "1.2.840.10008.5.1.4.1.1.88.34": "Comprehensive 3D SR Storage",
    "1.2.840.10008.5.1.4.1.1.88.35": "Extensible SR Storage",
    "1.2.840.10008.5.1.4.1.1.88.40": "Procedure Log Storage",
    "1.2.840.10008.5.1.4.1.1.88.50": "Mammography CAD SR Storage",
    "1.2.840.10008.5.1.4.1.1.88.59": "Key Object Selection Document Storage",
    "1.2.840.10008.5.1.4.1.1.88.65": "Chest CAD SR Storage",
    "1.2.840.10008.5.1.4.1.1.88.67": "X-Ray Radiation Dose SR Storage",
    "1.2.840.10008.5.1.4.1.1.88.68": "Radiopharmaceutical Radiation Dose SR Storage",
    "1.2.840.10008.5.1.4.1.1.88.69": "Colon CAD SR Storage",
    "1.2.840.10008.5.1.4.1.1.88.70": "Implantation Plan SR Storage",
    "1.2.840.10008.5.1.4.1.1.88.71": "Acquisition Context SR Storage",
    "1.2.840.10008.5.1.4.1.1.88.72": "Simplified Adult Echo SR Storage",
    "1.2.840.10008.5.1.4.1.1.88.73": "Patient Radiation Dose SR Storage",
    "1.2.840.10008.5.1.4.1.1.88.74": "Planned Imaging Agent Administration SR Storage",
    "1.2.840.10008.5.1.4.1.1.88.75": "Performed Imaging Agent Administration SR Storage",
    "1.2.840.10008.5.1.4.1.1.88.76": "Enhanced X-Ray Radiation Dose SR Storage",
    # presentation states
    "1.2.840.10008.5.1.4.1.1.11.1": "Grayscale Softcopy Presentation State Storage",
    "1.2.840.10008.5.1.4.1.1.11.2": "Color Softcopy Presentation State Storage",
    "1.2.840.10008.5.1.4.1.1.11.3": "Pseudo-Color Softcopy Presentation State Storage",
    "1.2.840.10008.5.1.4.1.1.11.4": "Blending Softcopy Presentation State Storage",
    "1.2.840.10008.5.1.4.1.1.11.5": "XA/XRF Grayscale Softcopy Presentation State Storage",
    "1.2.840.10008.5.1.4.1.1.11.6": "Grayscale Planar MPR Volumetric Presentation State Storage",
    "1.2.840.10008.5.1.4.1.1.11.7": "Compositing Planar MPR Volumetric Presentation State Storage",
    "1.2.840.10008.5.1.4.1.1.11.8": "Advanced Blending Presentation State Storage",
    "1.2.840.10008.5.1.4.1.1.11.9": "Volume Rendering Volumetric Presentation State Storage",
    "1.2.840.10008.5.1.4.1.1.11.10": "Segmented Volume Rendering Volumetric Presentation State Storage",
    "1.2.840.10008.5.1.4.1.1.11.11": "Multiple Volume Rendering Volumetric Presentation State Storage",
    "1.2.840.10008.5.1.4.1.1.11.12": "Variable Modality LUT Softcopy Presentation State Storage",
    # encapsulated documents
    "1.2.840.10008.5.1.4.1.1.104.1": "Encapsulated PDF Storage",
    "1.2.840.10008.5.1.4.1.1.104.2": "Encapsulated CDA Storage",
    "1.2.840.10008.5.1.4.1.1.104.3": "Encapsulated STL Storage",
    "1.2.840.10008.5.1.4.1.1.104.4": "Encapsulated OBJ Storage",
    "1.2.840.10008.5.1.4.1.1.104.5": "Encapsulated MTL Storage",
    # waveforms
    "1.2.840.10008.5.1.4.1.1.9.1.1": "12-lead ECG Waveform Storage",
    "1.2.840.10008.5.1.4.1.1.9.1.2": "General ECG Waveform Storage",
    "1.2.840.10008.5.1.4.1.1.9.1.3": "Ambulatory ECG Waveform Storage",
    "1.2.840.10008.5.1.4.1.1.9.2.1": "Hemodynamic Waveform Storage",
    "1.2.840.10008.5.1.4.1.1.9.3.1": "Cardiac Electrophysiology Waveform Storage",
    "1.2.840.10008.5.1.4.1.1.9.4.1": "Basic Voice Audio Waveform Storage",
    "1.2.840.10008.5.1.4.1.1.9.4.2": "General Audio Waveform Storage",
    "1.2.840.10008.5.1.4.1.1.9.5.1": "Arterial Pulse Waveform Storage",
    "1.2.840.10008.5.1.4.1.1.9.6.1": "Respiratory Waveform Storage",
}


def non_image_reason(ds) -> str | None:
    """Skip detail for a non-image SOP class (by SOP Class UID, else the file meta's), or None for images.

    The detail holds the class name from :data:`NON_IMAGE_SOP_CLASSES`, never a header value.
    """
    uid = ds.get("SOPClassUID") or getattr(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", None)
    name = NON_IMAGE_SOP_CLASSES.get(str(uid or "").strip())
    return f"non-image SOP class: {name}" if name else None


def frame_functional_groups(ds, index: int) -> dict[str, float]:
    """Rescale and window values of one frame of an enhanced (multi-frame) object.

    Reads the Pixel Value Transformation Sequence (slope, intercept) and the Frame VOI LUT Sequence (first
    window center / width) from the frame's item of the Per-Frame Functional Groups Sequence, falling back to
    the Shared Functional Groups Sequence. Returns only the keys found (``slope``, ``intercept``, ``center``,
    ``width``); empty for classic objects.
    """
    groups = []
    per = ds.get("PerFrameFunctionalGroupsSequence")
    if per is not None and index < len(per):
        groups.append(per[index])
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        groups.append(shared[0])
    out: dict[str, float] = {}
    for seq, keys in (
        ("PixelValueTransformationSequence", (("slope", "RescaleSlope"), ("intercept", "RescaleIntercept"))),
        ("FrameVOILUTSequence", (("center", "WindowCenter"), ("width", "WindowWidth"))),
    ):
        for g in groups:  # per-frame first: the first group that has the sequence wins for all its keys
            items = g.get(seq)
            if items:
                for k, kw in keys:
                    v = items[0].get(kw)
                    if v is not None and v != "":
                        out[k] = _first(v)
                break
    return out


def modality_from_tag(value: str | None) -> str:
    """Map the DICOM Modality code (CT, MR, US, CR, DX, MG, SM, OP...) to a medclip modality."""
    return DICOM_MODALITY.get(str(value or "").upper().strip(), "other")


def _first(v) -> float:
    try:
        return float(v[0])
    except TypeError:
        return float(v)


def voi_to_uint8(
    ds,
    frame: np.ndarray,
    *,
    modality: str,
    window: str,
    center: float | None,
    width: float | None,
    index: int = 0,
) -> tuple[np.ndarray, dict]:
    """Grayscale frame (stored values) -> uint8 via modality LUT + VOI. Returns (pixels, how).

    ``index`` is the frame number, used to read an enhanced object's per-frame / shared functional groups
    (their rescale and window override the top-level attributes).
    """
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    fg = frame_functional_groups(ds, index)
    if "slope" in fg or "intercept" in fg:
        x = frame.astype(np.float64) * fg.get("slope", 1.0) + fg.get("intercept", 0.0)
        how: dict = {"rescaled": True}
    else:
        x = apply_modality_lut(frame, ds).astype(np.float64)
        how = {"rescaled": "RescaleSlope" in ds or "RescaleIntercept" in ds or "ModalityLUTSequence" in ds}
    if center is not None and width is not None:
        out, how["window"] = window_linear(x, center, width), [center, width]
    elif window in WINDOW_PRESETS:
        c, w = WINDOW_PRESETS[window]
        out, how["window"] = window_linear(x, c, w), window
    elif window in ("auto", "file") and "center" in fg and "width" in fg:
        out, how["window"] = window_linear(x, fg["center"], fg["width"]), "file"
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


def _decoder_available(ts) -> bool:
    """Whether pydicom has an installed decoder plugin for transfer syntax ``ts``."""
    try:
        from pydicom.pixels import get_decoder

        return bool(get_decoder(ts).is_available)
    except (NotImplementedError, ValueError, ImportError):
        return False


def decode_frames(ds, frames: list[int], **voi) -> list[tuple[np.ndarray, dict]]:
    """Decode the requested frames of a dataset to uint8 (grayscale windowed, colour as RGB)."""
    reason = non_image_reason(ds)
    if reason:
        raise DecodeError("unsupported", reason)
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise DecodeError("no_pixels", "no pixel data")
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    try:
        arr = ds.pixel_array
    except Exception as e:  # missing decoder plugin, corrupt data
        if ts is not None and getattr(ts, "is_compressed", False) and not _decoder_available(ts):
            name = ts.name if ts.name != str(ts) else "unknown"  # a private UID is a header value: not echoed
            raise DecodeError(
                "unsupported",
                f"compressed transfer syntax '{name}' needs a decoder plugin that is not installed "
                "(pip install 'medclip[dicom]': pylibjpeg, pylibjpeg-libjpeg, -openjpeg, -rle)",
            ) from None
        raise DecodeError("unreadable", f"pixel data: {type(e).__name__}") from None
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
            out.append(voi_to_uint8(ds, fr, index=f, **voi))
    return out
