"""NIfTI volumes: 2D slices in one canonical orientation, shown in the radiological or neurological convention.

Every volume is reoriented (by its affine, to the closest axis-aligned orientation) to a target orientation,
``RAS`` by default (nibabel's :func:`nibabel.as_closest_canonical`: array axis 0 runs to the patient's Right,
1 to Anterior, 2 to Superior), before it is sliced, so the same anatomy stored as RAS, LAS, LPS... gives the
same slices. Slice ``s`` along target axis ``a`` is the one ``as_reoriented`` would give, read straight from
the file without loading the volume.

Display of an RAS slice (``display="radiological"``, the default): axial slices have anterior at the top
and the patient's right on the image's left (as if facing the patient); coronal slices have superior at the
top and the patient's right on the left; sagittal slices have superior at the top and anterior on the left.
``neurological`` mirrors the columns (the patient's right on the image's right in axial and coronal views).
In array terms: rows run along the second remaining target axis, high to low; columns along the first
remaining axis, high to low (radiological) or low to high (neurological).
"""

from __future__ import annotations

import numpy as np

from .errors import DecodeError

DISPLAYS = ("radiological", "neurological")


def _nib():
    try:
        import nibabel
    except ImportError:
        raise ImportError("NIfTI decoding needs nibabel: pip install 'medclip[dicom]'") from None
    return nibabel


def check_orientation(codes: str) -> str:
    """Validate a 3-letter axis-code orientation (one of L/R, one of P/A, one of I/S, e.g. ``RAS``, ``LPS``).

    Args:
        codes: Orientation string.

    Returns:
        The upper-cased orientation.
    """
    c = str(codes).upper()
    groups = ("LR", "PA", "IS")
    if len(c) != 3 or sorted(g for x in c for g, pair in enumerate(groups) if x in pair) != [0, 1, 2]:
        raise ValueError(f"orientation must be 3 axis codes, one each of L/R, P/A and I/S (e.g. RAS), got {codes!r}")
    return c


def source_orientation(img) -> str:
    """Axis codes of the stored array (e.g. ``LPS``) from the image affine."""
    return "".join(_nib().aff2axcodes(img.affine))


def _transform(img, target: str) -> np.ndarray:
    nib = _nib()
    src = nib.orientations.io_orientation(img.affine)
    return nib.orientations.ornt_transform(src, nib.orientations.axcodes2ornt(tuple(target)))


def target_shape(img, target: str = "RAS") -> tuple[int, int, int]:
    """Spatial shape of the volume once reoriented to ``target``."""
    t = _transform(img, check_orientation(target))
    shape = [0, 0, 0]
    for src_axis, (dst_axis, _) in enumerate(t):
        shape[int(dst_axis)] = int(img.shape[src_axis])
    return tuple(shape)


def oriented_slice(img, axis: int, index: int, *, target: str = "RAS") -> np.ndarray:
    """Slice ``index`` along ``axis`` of the volume reoriented to ``target`` (float64, target axis order).

    Equal to ``img.as_reoriented(transform).get_fdata()[..., index, ...]`` (scaling applied) but reads only
    that slice. A 4-D volume gives its first volume.

    Args:
        img: A nibabel spatial image (3-D or more).
        axis: Target axis (0, 1 or 2).
        index: Slice index along that axis, in target order.
        target: Target orientation (axis codes).

    Returns:
        2-D float64 array indexed by the two remaining target axes, in target order.
    """
    if len(img.shape) < 3:
        raise DecodeError("unsupported", f"{len(img.shape)}-D volume")
    t = _transform(img, check_orientation(target))
    src_axis = int(np.flatnonzero(t[:, 0] == axis)[0])
    n = img.shape[src_axis]
    if not 0 <= index < n:
        raise DecodeError("unsupported", "slice index out of range")
    src_index = n - 1 - index if t[src_axis, 1] < 0 else index
    key = [slice(None)] * 3 + [0] * (len(img.shape) - 3)
    key[src_axis] = src_index
    sl = np.asarray(img.dataobj[tuple(key)], dtype=np.float64)  # remaining source axes, source order
    rest = [j for j in range(3) if j != src_axis]
    dst = [int(t[j, 0]) for j in rest]
    for k, j in enumerate(rest):
        if t[j, 1] < 0:
            sl = np.flip(sl, axis=k)
    return sl if dst[0] < dst[1] else sl.T


def display_slice(sl: np.ndarray, display: str = "radiological") -> np.ndarray:
    """Turn a target-order slice into display order (see the module docstring for the convention)."""
    if display not in DISPLAYS:
        raise ValueError(f"display must be radiological or neurological, got {display!r}")
    out = sl[::-1, ::-1].T if display == "radiological" else sl[:, ::-1].T
    return np.ascontiguousarray(out)
