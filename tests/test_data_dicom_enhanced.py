"""Enhanced (multi-frame) DICOM functional groups, non-image SOP classes, value-free skip details, and
dangling symlinks in folder sources."""

import copy
import io
import json
import os
import re
import shutil
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pydicom = pytest.importorskip("pydicom")

from dicom_fixtures import hand_window, local_file, read  # noqa: E402
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid  # noqa: E402

from data_pipelines.build import build  # noqa: E402
from data_pipelines.config import load_build_config  # noqa: E402
from data_pipelines.sources.base import Item, Skip, SkipError, hashed_id  # noqa: E402
from data_pipelines.sources.dicom import DicomSource, DicomSourceConfig  # noqa: E402
from data_pipelines.sources.files import FolderSource, FolderSourceConfig  # noqa: E402
from medclip.imaging.dicom import NON_IMAGE_SOP_CLASSES, decode_frames  # noqa: E402

NON_IMAGE_FILES = {  # real pydicom test files and the SOP class each carries
    "liver_1frame.dcm": "Segmentation Storage",
    "rtdose_1frame.dcm": "RT Dose Storage",
    "rtplan.dcm": "RT Plan Storage",
    "test-SR.dcm": "Comprehensive SR Storage",
    "reportsi.dcm": "Basic Text SR Storage",
}
IMAGE_FILES = ["CT_small.dcm", "MR_small.dcm", "US1_UNCR.dcm"]


def test_enhanced_ct_applies_shared_functional_groups_against_hand_computation():
    ds = read("eCT_Supplemental.dcm")
    assert "RescaleIntercept" not in ds and "WindowCenter" not in ds  # only in the functional groups
    shared = ds.SharedFunctionalGroupsSequence[0]
    pvt, voi = shared.PixelValueTransformationSequence[0], shared.FrameVOILUTSequence[0]
    slope, intercept = float(pvt.RescaleSlope), float(pvt.RescaleIntercept)
    c, w = float(voi.WindowCenter), float(voi.WindowWidth)
    assert (slope, intercept, c, w) == (1.0, -1024.0, 49.0, 102.0)
    raw = ds.pixel_array
    out = decode_frames(ds, [0, 1], modality="ct", window="auto", center=None, width=None)
    for f, (px, how) in enumerate(out):
        assert how == {"rescaled": True, "window": "file"}
        # every 7th pixel in both directions (the pixel loop is slow); exact equality, both frames
        hu = raw[f, ::7, ::7].astype(np.float64) * slope + intercept
        np.testing.assert_array_equal(px[::7, ::7], hand_window(hu, c, w))
        assert (px == 255).mean() < 0.01  # was all white before the functional groups were applied
        assert 0.3 < (px == 0).mean() < 0.9  # air and the table are black, the body is grey


def test_enhanced_per_frame_group_overrides_shared():
    ds = copy.deepcopy(read("eCT_Supplemental.dcm"))
    pvt, voi = Dataset(), Dataset()
    pvt.RescaleSlope, pvt.RescaleIntercept, pvt.RescaleType = "2", "-2000", "US"
    voi.WindowCenter, voi.WindowWidth = "300", "1500"
    ds.PerFrameFunctionalGroupsSequence[1].PixelValueTransformationSequence = [pvt]
    ds.PerFrameFunctionalGroupsSequence[1].FrameVOILUTSequence = [voi]
    raw = ds.pixel_array
    (px0, _), (px1, _) = decode_frames(ds, [0, 1], modality="ct", window="auto", center=None, width=None)
    np.testing.assert_array_equal(px0[::9, ::9], hand_window(raw[0, ::9, ::9] - 1024.0, 49.0, 102.0))
    np.testing.assert_array_equal(
        px1[::9, ::9], hand_window(raw[1, ::9, ::9].astype(np.float64) * 2 - 2000.0, 300.0, 1500.0)
    )
    # an explicit window from the config still wins over the file's frame window
    ((px, how),) = decode_frames(ds, [1], modality="ct", window="auto", center=40.0, width=400.0)
    assert how["window"] == [40.0, 400.0]
    np.testing.assert_array_equal(px[::9, ::9], hand_window(raw[1, ::9, ::9] * 2.0 - 2000.0, 40.0, 400.0))


def test_non_image_sop_class_names_match_the_dicom_dictionary():
    known = 0
    for uid, name in NON_IMAGE_SOP_CLASSES.items():
        u = UID(uid)
        assert u.is_valid
        if u.name != uid:  # in pydicom's copy of PS3.6 (newer classes may be missing from it)
            assert u.name == name
            known += 1
    assert known >= 60
    assert "1.2.840.10008.5.1.4.1.1.481.1" not in NON_IMAGE_SOP_CLASSES  # RT Image is an image


def _synth(path: Path, sop_class: str, modality: str) -> None:
    """A small valid 32x32 MONOCHROME2 dataset with PixelData and the given SOP Class UID."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = sop_class, meta.MediaStorageSOPInstanceUID, modality
    ds.Rows = ds.Columns = 32
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    ds.PixelData = np.arange(1024, dtype=np.uint16).astype(np.uint8).tobytes()
    ds.save_as(path, enforce_file_format=True)


@pytest.fixture(scope="module")
def mixed_build(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nonimg")
    root = tmp / "in"
    root.mkdir()
    for name in [*NON_IMAGE_FILES, *IMAGE_FILES]:
        shutil.copy(local_file(name), root / name)
    _synth(root / "sr_with_pixels.dcm", "1.2.840.10008.5.1.4.1.1.88.22", "SR")  # Enhanced SR + PixelData
    _synth(root / "sc_image.dcm", "1.2.840.10008.5.1.4.1.1.7", "OT")  # Secondary Capture: a real image
    os.symlink(tmp / "gone.dcm", root / "dangling.dcm")
    out = tmp / "out"
    cfg = load_build_config(None, ["sources={}", "sources.d.type=dicom", f"sources.d.root={root}",
                                   "sources.d.labels=[normal]", "sources.d.include_modalities=[CT,MR,SR,OT,RTDOSE,SEG]",
                                   "image.max_side=64"])  # fmt: skip
    build(cfg, out=out, workers=1, progress=False, log=lambda *a: None)
    man = json.loads((out / "train" / "manifest.json").read_text())
    return root, out, man


def test_non_image_objects_are_skipped_by_sop_class(mixed_build):
    root, out, man = mixed_build
    src = DicomSource("d", DicomSourceConfig(root=str(root), labels=["normal"]))
    got: dict[str, list] = {}
    for it in src.items():
        got.setdefault(type(it).__name__, []).append(it)
    details = sorted(s.detail for s in got["Skip"])
    expected = sorted([f"non-image SOP class: {n}" for n in NON_IMAGE_FILES.values()]
                      + ["non-image SOP class: Enhanced SR Storage", "dangling symlink"])  # fmt: skip
    assert details == expected
    assert all(s.reason == ("unreadable" if s.detail == "dangling symlink" else "unsupported") for s in got["Skip"])
    assert len(got["Item"]) == len(IMAGE_FILES) + 1  # + the synthesized Secondary Capture image
    # the build writes the images only, and counts every skip in the manifest (+ US: not in include_modalities)
    skipped = man["skipped"]["items"]
    assert sorted(s["detail"] for s in skipped) == sorted([*expected, "modality not in include_modalities"])
    assert man["skipped"]["by_reason"] == {"unsupported": len(expected), "unreadable": 1}
    n_written = sum(1 for p in (out / "train").glob("*.tar") for m in tarfile.open(p) if m.name.endswith(".json"))
    assert n_written == 3  # CT, MR, Secondary Capture; US is not in include_modalities


def test_decode_refuses_non_image_sop_class_even_with_pixel_data(tmp_path):
    _synth(tmp_path / "sr.dcm", "1.2.840.10008.5.1.4.1.1.88.33", "SR")
    ds = pydicom.dcmread(tmp_path / "sr.dcm")
    assert "PixelData" in ds and ds.pixel_array.shape == (32, 32)
    with pytest.raises(SkipError) as e:
        decode_frames(ds, [0], modality="other", window="auto", center=None, width=None)
    assert (e.value.reason, e.value.detail) == ("unsupported", "non-image SOP class: Comprehensive SR Storage")
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"  # the same pixels as Secondary Capture decode
    ((px, _),) = decode_frames(ds, [0], modality="other", window="minmax", center=None, width=None)
    assert px.shape == (32, 32) and px.min() == 0 and px.max() == 255


def test_manifest_skip_records_hold_no_header_values(mixed_build):
    root, _, man = mixed_build
    fixed = {f"non-image SOP class: {n}" for n in NON_IMAGE_SOP_CLASSES.values()}
    fixed |= {"modality not in include_modalities", "dangling symlink"}
    records = man["skipped"]["items"]
    assert len(records) == 8 and all(r["detail"] in fixed for r in records)  # fixed strings from the code only
    by_id = {r["source_id"]: r for r in records}
    checked = 0
    for p in root.glob("*.dcm"):
        r = by_id.get(hashed_id(p.name))
        if r is None or not p.exists():
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(p, stop_before_pixels=True)
        values = set()
        for el in [*ds.iterall(), *ds.file_meta]:
            if el.VR in ("SQ", "OB", "OW", "UN", "OF", "OD", "OL", "OV"):
                continue
            vals = el.value if isinstance(el.value, (list, pydicom.multival.MultiValue)) else [el.value]
            values.update(str(v).strip() for v in vals if len(str(v).strip()) >= 2)
        assert str(ds.Modality) in values
        # words of the record other than those of its fixed detail string (a SEG file may say "Segmentation")
        words = set(re.findall(r"[A-Za-z0-9.^_-]+", json.dumps(r))) - set(re.findall(r"[A-Za-z0-9.^_-]+", r["detail"]))
        words |= {r["detail"]} if r["detail"] not in fixed else set()
        assert not words & values, f"header values {words & values} in a skip record"
        if r["detail"] == "modality not in include_modalities":  # the US file: its Modality is not quoted
            assert ds.Modality == "US" and "US" not in re.findall(r"[A-Za-z]+", r["detail"])
        checked += 1
    assert checked == 7  # every skipped file but the dangling symlink


def test_folder_source_counts_a_dangling_symlink(tmp_path):
    root = tmp_path / "img"
    (root / "cat").mkdir(parents=True)
    buf = io.BytesIO()
    Image.fromarray(np.full((40, 40), 128, np.uint8)).save(buf, format="PNG")
    (root / "cat" / "a.png").write_bytes(buf.getvalue())
    os.symlink(tmp_path / "missing.png", root / "cat" / "b.png")
    os.symlink(root / "cat" / "a.png", root / "cat" / "c.png")  # a live symlink is an image like any other
    (root / "cat" / "notes.txt").write_text("x")
    items = FolderSource("f", FolderSourceConfig(root=str(root), modality="xray")).items()
    assert [(type(i), i.source_id) for i in items] == [(Item, "cat/a.png"), (Skip, "cat/b.png"), (Item, "cat/c.png")]
    assert (items[1].reason, items[1].detail) == ("unreadable", "dangling symlink")
    out = tmp_path / "out"
    cfg = load_build_config(None, ["sources={}", "sources.f.type=folder", f"sources.f.root={root}",
                                   "sources.f.modality=xray", "image.max_side=32", "hygiene.dedup=none"])  # fmt: skip
    build(cfg, out=out, workers=1, progress=False, log=lambda *a: None)
    man = json.loads((out / "train" / "manifest.json").read_text())
    assert man["skipped"]["by_reason"] == {"unreadable": 1}
    assert [(s["source_id"], s["detail"]) for s in man["skipped"]["items"]] == [("cat/b.png", "dangling symlink")]


def test_malformed_frame_count_is_skipped_without_its_value(tmp_path):
    ds = read("badVR.dcm")  # an RT Dose whose NumberOfFrames reads "1A"
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"  # posing as CT
    with pydicom.config.disable_value_validation():
        ds.save_as(tmp_path / "bad.dcm")
    items = DicomSource("d", DicomSourceConfig(root=str(tmp_path), labels=["normal"])).items()
    assert [(type(i), i.reason, i.detail) for i in items] == [(Skip, "unreadable", "NumberOfFrames: ValueError")]
