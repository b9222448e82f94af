"""DICOM: windowing vs hand-computed values, MONOCHROME1, frames, real pydicom-data shards, PHI byte scan."""

import io
import json
import shutil
import tarfile

import numpy as np
import pytest
from PIL import Image

pydicom = pytest.importorskip("pydicom")

from dicom_fixtures import hand_window, local_file, read  # noqa: E402

from data_pipelines.build import build  # noqa: E402
from data_pipelines.config import load_build_config  # noqa: E402
from medclip.imaging.dicom import decode_frames, modality_from_tag  # noqa: E402

FILES = ["CT_small.dcm", "MR_small.dcm", "RG3_UNCR.dcm", "US1_UNCR.dcm", "emri_small.dcm",
         "MR_small_jpeg_ls_lossless.dcm"]  # fmt: skip
PHI_KEYWORDS = {
    "PatientName", "PatientID", "PatientBirthDate", "OtherPatientIDs", "ReferringPhysicianName",
    "PerformingPhysicianName", "OperatorsName", "InstitutionName", "InstitutionAddress", "StationName",
    "AccessionNumber", "StudyID", "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate",
    "InstanceCreationDate", "StudyTime", "SeriesTime", "StudyInstanceUID", "SeriesInstanceUID",
    "SOPInstanceUID", "FrameOfReferenceUID", "MediaStorageSOPInstanceUID",
}  # fmt: skip


def test_ct_rescale_and_soft_tissue_preset_against_hand_computation():
    ds = read("CT_small.dcm")
    assert "WindowCenter" not in ds and float(ds.RescaleIntercept) == -1024.0
    ((px, how),) = decode_frames(ds, [0], modality="ct", window="auto", center=None, width=None)
    hu = ds.pixel_array[:16, :16].astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert how["window"] == "soft_tissue"
    np.testing.assert_array_equal(px[:16, :16], hand_window(hu, 40.0, 400.0))
    ((lung, _),) = decode_frames(ds, [0], modality="ct", window="lung", center=None, width=None)
    np.testing.assert_array_equal(lung[:16, :16], hand_window(hu, -600.0, 1500.0))


def test_mr_window_from_file():
    ds = read("MR_small.dcm")
    ((px, how),) = decode_frames(ds, [0], modality="mri", window="auto", center=None, width=None)
    assert how["window"] == "file"
    np.testing.assert_array_equal(px, hand_window(ds.pixel_array.astype(float), 600.0, 1600.0))


def test_monochrome1_is_inverted():
    ds = read("RG3_UNCR.dcm")
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    ((px, how),) = decode_frames(ds, [0], modality="xray", window="auto", center=None, width=None)
    assert how["inverted"] is True
    raw = ds.pixel_array[::97, ::97].astype(float)
    np.testing.assert_array_equal(px[::97, ::97], 255 - hand_window(raw, 550.0, 1024.0))
    ds.PhotometricInterpretation = "MONOCHROME2"
    ((px2, _),) = decode_frames(ds, [0], modality="xray", window="auto", center=None, width=None)
    np.testing.assert_array_equal(px, 255 - px2)


def test_modality_mapping():
    assert [modality_from_tag(m) for m in ("CT", "MR", "US", "CR", "DX", "MG", "SM", "OP", "NM", None)] == [
        "ct", "mri", "ultrasound", "xray", "xray", "xray", "pathology", "fundus", "other", "other"]  # fmt: skip


@pytest.fixture(scope="module")
def dicom_build(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dcm")
    root = tmp / "in"
    root.mkdir()
    for name in FILES:
        shutil.copy(local_file(name), root / name)
    out = tmp / "out"
    logs = io.StringIO()
    cfg = load_build_config(
        None,
        [
            "sources={}",
            "sources.real.type=dicom",
            f"sources.real.root={root}",
            "sources.real.labels=[normal]",
            "image.max_side=128",
            "hygiene.dedup=none",
        ],
    )  # fmt: skip  (same pixels under several syntaxes)
    rep = build(cfg, out=out, workers=1, progress=False, log=lambda *a: print(*a, file=logs))
    return root, out, rep, logs.getvalue()


def test_real_dicom_shards_decode_with_right_modality(dicom_build):
    root, out, rep, _ = dicom_build
    expected = {}
    for name in FILES:
        ds = pydicom.dcmread(root / name, stop_before_pixels=True)
        expected[name] = modality_from_tag(ds.Modality)
    metas = []
    for shard in (out / "train").glob("*.tar"):
        with tarfile.open(shard) as tf:
            members = {m.name: tf.extractfile(m).read() for m in tf}
        for n, data in members.items():
            if n.endswith(".json"):
                meta = json.loads(data)
                img = Image.open(io.BytesIO(members[n[:-4] + meta["format"]]))
                img.load()
                assert img.size == (meta["width"], meta["height"]) and max(img.size) <= 128
                metas.append(meta)
    # 10 frames of the multi-frame MR + 4 single-frame files (+ the JPEG-LS MR when a decoder is installed)
    from pydicom.pixels.decoders import JPEGLSLosslessDecoder

    jls = JPEGLSLosslessDecoder.is_available
    assert sorted(m["modality"] for m in metas) == sorted(["ct", "mri", "xray", "ultrasound"] + ["mri"] * (10 + jls))
    assert {m["dicom"]["frame"] for m in metas if m["dicom"].get("frame", 0) > 0} == set(range(1, 10))
    assert set(expected.values()) == {"ct", "mri", "xray", "ultrasound"}
    man = json.loads((out / "train" / "manifest.json").read_text())
    skipped = man["skipped"]["items"]
    if jls:
        assert skipped == []
    else:
        assert [s["reason"] for s in skipped] == ["unsupported"] and "decoder" in skipped[0]["detail"]


def test_no_phi_in_any_written_byte(dicom_build):
    root, out, _, logs = dicom_build
    values = set()
    for name in FILES:
        ds = pydicom.dcmread(root / name, stop_before_pixels=True)
        elems = list(ds.iterall()) + list(ds.file_meta)
        for el in elems:
            if el.keyword in PHI_KEYWORDS or el.VR in ("PN", "DA", "DT"):
                for v in el.value if isinstance(el.value, (list, pydicom.multival.MultiValue)) else [el.value]:
                    s = str(v).strip()
                    if len(s) >= 4 and len(set(s)) >= 3:  # placeholders like "000000000" carry nothing
                        values.add(s)
    assert len(values) > 10  # the files do carry identifying values
    blobs = [p.read_bytes() for p in out.rglob("*") if p.is_file()] + [logs.encode()]
    for v in values:
        for b in blobs:
            assert v.encode() not in b, "identifying DICOM value written to output"
