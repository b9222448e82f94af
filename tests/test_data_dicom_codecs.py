"""Compressed DICOM: every compressed transfer syntax in pydicom's test data and pydicom-data decodes with
the ``dicom`` extra's decoders, and matches the uncompressed file of the same image that pydicom ships."""

import warnings
from pathlib import Path

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
pytest.importorskip("pylibjpeg")

from data_pipelines.sources.dicom import local_pydicom_files  # noqa: E402
from medclip.imaging.dicom import decode_frames, non_image_reason  # noqa: E402
from medclip.imaging.errors import DecodeError  # noqa: E402

# compressed file -> uncompressed file of the same image
LOSSLESS = {
    "MR_small_RLE.dcm": "MR_small.dcm", "MR_small_jpeg_ls_lossless.dcm": "MR_small.dcm",
    "MR_small_jp2klossless.dcm": "MR_small.dcm", "emri_small_RLE.dcm": "emri_small.dcm",
    "emri_small_jpeg_ls_lossless.dcm": "emri_small.dcm", "emri_small_jpeg_2k_lossless.dcm": "emri_small.dcm",
    "MR2_J2KR.dcm": "MR2_UNCR.dcm", "RG1_J2KR.dcm": "RG1_UNCR.dcm", "RG3_J2KR.dcm": "RG3_UNCR.dcm",
    "US1_J2KR.dcm": "US1_UNCR.dcm", "693_J2KR.dcm": "693_UNCR.dcm", "SC_rgb_rle.dcm": "SC_rgb.dcm",
    "SC_rgb_rle_2frame.dcm": "SC_rgb_2frame.dcm", "SC_rgb_rle_16bit.dcm": "SC_rgb_16bit.dcm",
    "SC_rgb_rle_16bit_2frame.dcm": "SC_rgb_16bit_2frame.dcm", "SC_rgb_rle_32bit.dcm": "SC_rgb_32bit.dcm",
    "SC_rgb_rle_32bit_2frame.dcm": "SC_rgb_32bit_2frame.dcm", "OBXXXX1A_rle.dcm": "OBXXXX1A.dcm",
    "OBXXXX1A_rle_2frame.dcm": "OBXXXX1A_2frame.dcm", "rtdose_rle.dcm": "rtdose.dcm",
    "rtdose_rle_1frame.dcm": "rtdose_1frame.dcm",
}  # fmt: skip
# lossy file -> the uncompressed reference pydicom ships for it (decoded by the encoder's toolkit)
LOSSY = {
    "MR2_J2KI.dcm": "MR2_UNCI.dcm", "RG1_J2KI.dcm": "RG1_UNCI.dcm", "RG3_J2KI.dcm": "RG3_UNCI.dcm",
    "US1_J2KI.dcm": "US1_UNCI.dcm", "693_J2KI.dcm": "693_UNCI.dcm", "JPEG2000.dcm": "JPEG2000_UNC.dcm",
    "SC_rgb_dcmtk_+eb+cr.dcm": "SC_rgb_dcmtk_ebcr_dcmd.dcm",
    "SC_rgb_dcmtk_+eb+cy+n1.dcm": "SC_rgb_dcmtk_ebcyn1_dcmd.dcm",
    "SC_rgb_dcmtk_+eb+cy+n2.dcm": "SC_rgb_dcmtk_ebcyn2_dcmd.dcm",
    "SC_rgb_dcmtk_+eb+cy+np.dcm": "SC_rgb_dcmtk_ebcynp_dcmd.dcm",
    "SC_rgb_dcmtk_+eb+cy+s2.dcm": "SC_rgb_dcmtk_ebcys2_dcmd.dcm",
    "SC_rgb_dcmtk_+eb+cy+s4.dcm": "SC_rgb_dcmtk_ebcys4_dcmd.dcm",
}  # fmt: skip
# damaged on purpose in pydicom's test data: every decoder fails (measured: pylibjpeg, pyjpegls, python-gdcm)
UNDECODABLE = {"JPEG-lossy.dcm", "JPEG2000-embedded-sequence-delimiter.dcm"}


def _files() -> dict[str, str]:
    return {Path(p).name: p for p in local_pydicom_files()}


def _read(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path)


def _pixels(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _read(path).pixel_array


def _compressed() -> dict[str, tuple[str, str]]:
    out = {}
    for name, path in _files().items():
        try:
            ds = _read(path)
        except Exception:  # not a DICOM file (pydicom ships some on purpose)
            continue
        ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        if ts is not None and ts.is_compressed and "PixelData" in ds:
            out[name] = (path, ts.name)
    return out


def test_every_compressed_transfer_syntax_decodes():
    comp = _compressed()
    if not comp:
        pytest.skip("no compressed test files installed")
    decoded, failed = {}, set()
    for name, (path, ts) in comp.items():
        try:
            arr = _pixels(path)
            assert arr.size > 0
            decoded.setdefault(ts, []).append(name)
        except Exception:
            failed.add(name)
    assert failed <= UNDECODABLE, f"decoders missing for {sorted(failed - UNDECODABLE)}"
    assert {ts for _, ts in comp.values()} == set(decoded)  # every transfer syntax present decodes
    for name in failed:  # the shared decoder reports them as unreadable, naming no value
        with pytest.raises(DecodeError) as e:
            decode_frames(_read(comp[name][0]), [0], modality="other", window="auto", center=None, width=None)
        assert e.value.reason == "unreadable" and e.value.detail.startswith("pixel data: ")


@pytest.mark.parametrize("name", sorted(LOSSLESS))
def test_lossless_equals_uncompressed_reference(name):
    files = _files()
    if name not in files or LOSSLESS[name] not in files:
        pytest.skip("pair not installed")
    got, ref = _pixels(files[name]), _pixels(files[LOSSLESS[name]])
    assert got.shape == ref.shape
    np.testing.assert_array_equal(got, ref)
    ds, ds_ref = _read(files[name]), _read(files[LOSSLESS[name]])
    if non_image_reason(ds):  # RT dose grids: pixels compared above, never decoded as images
        return
    kw = {"modality": "other", "window": "auto", "center": None, "width": None}
    for (a, _), (b, _) in zip(decode_frames(ds, [0], **kw), decode_frames(ds_ref, [0], **kw)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", sorted(LOSSY))
def test_lossy_is_close_to_reference(name):
    files = _files()
    if name not in files or LOSSY[name] not in files:
        pytest.skip("pair not installed")
    got = _pixels(files[name]).astype(np.float64)
    ref = _pixels(files[LOSSY[name]]).astype(np.float64)
    assert got.shape == ref.shape
    span = max(float(ref.max() - ref.min()), 1.0)
    assert np.abs(got - ref).mean() <= 0.01 * span  # the same image; decoder rounding differs slightly
    assert np.corrcoef(got.ravel(), ref.ravel())[0, 1] > 0.99
