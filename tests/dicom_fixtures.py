"""Shared helpers of the DICOM tests: locally installed pydicom test files and the hand-written VOI window."""

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest

from data_pipelines.sources.dicom import local_pydicom_files


def local_file(name: str) -> str:
    """Path of the installed pydicom / pydicom-data file ``name``; skips the test when it is not installed."""
    hits = [f for f in local_pydicom_files() if Path(f).name == name]
    if not hits:
        pytest.skip(f"{name} not installed locally")
    assert Path(hits[0]).is_file()  # on disk: no download involved
    return hits[0]


def read(name: str):
    """``pydicom.dcmread`` of the installed file ``name`` (pydicom's value warnings silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(local_file(name))


def hand_window(x: np.ndarray, c: float, w: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1, written out by its three cases, pixel by pixel, to 0..255 rounded half up."""
    out = np.empty(x.shape, np.uint8)
    for idx, v in np.ndenumerate(x):
        if v <= c - 0.5 - (w - 1) / 2:
            out[idx] = 0
        elif v > c - 0.5 + (w - 1) / 2:
            out[idx] = 255
        else:
            out[idx] = int(np.floor(((v - (c - 0.5)) / (w - 1) + 0.5) * 255 + 0.5))
    return out
