"""Intensity windows to 8-bit: the DICOM linear VOI function, a plain linear range, CT presets."""

from __future__ import annotations

import numpy as np

from .errors import DecodeError

# (center, width) presets in Hounsfield units (CT) or raw units
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "soft_tissue": (40.0, 400.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
    "liver": (60.0, 160.0),
}
DEFAULT_PRESET = {"ct": "soft_tissue"}  # used when the file has no VOI and the config sets none


def window_to_uint8(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Linear window ``[low, high] -> [0, 255]`` with clipping and round-half-up (constant images -> 0).

    Args:
        values: Array of any shape (float64 recommended).
        low: Value mapped to 0.
        high: Value mapped to 255.

    Returns:
        uint8 array of the same shape.
    """
    if not high > low:
        return np.zeros(values.shape, np.uint8)
    scaled = (values - low) * (255.0 / (high - low))
    return np.floor(np.clip(scaled, 0.0, 255.0) + 0.5).astype(np.uint8)


def window_linear(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """DICOM PS3.3 C.11.2.1.2.1 linear VOI function mapped to 0..255 (uint8, round half up).

    ``y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255``, clipped to [0, 255].

    Args:
        values: Modality values (after rescale).
        center: Window centre.
        width: Window width, >= 1 (``DecodeError('unsupported')`` otherwise).

    Returns:
        uint8 array of the same shape.
    """
    if width < 1:
        raise DecodeError("unsupported", "window width < 1")
    x = np.asarray(values, np.float64)
    if width == 1:
        return np.where(x > center - 0.5, 255, 0).astype(np.uint8)
    y = ((x - (center - 0.5)) / (width - 1) + 0.5) * 255.0
    return np.floor(np.clip(y, 0.0, 255.0) + 0.5).astype(np.uint8)
