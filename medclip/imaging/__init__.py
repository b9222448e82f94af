"""Medical image decoding shared by the shard builder and serving: DICOM and NIfTI to 8-bit pixels.

* :mod:`medclip.imaging.window`: DICOM linear VOI window, linear range, CT presets (numpy only).
* :mod:`medclip.imaging.dicom`: pydicom datasets -> uint8 frames (modality LUT, VOI, MONOCHROME1, colour).
* :mod:`medclip.imaging.errors`: :class:`DecodeError` (``reason`` + value-free ``detail``).

pydicom and nibabel are imported only inside the functions that need them (optional extra ``dicom``).
"""

from .errors import DecodeError
from .window import DEFAULT_PRESET, WINDOW_PRESETS, window_linear, window_to_uint8

__all__ = ["DEFAULT_PRESET", "WINDOW_PRESETS", "DecodeError", "window_linear", "window_to_uint8"]
