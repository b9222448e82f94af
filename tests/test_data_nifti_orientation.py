"""NIfTI orientation: slices come from the volume reoriented to RAS, whatever the stored orientation.

References are nibabel's own ``as_closest_canonical`` / ``as_reoriented`` arrays on nibabel's test files
(installed with nibabel) and on generated copies of one volume stored as RAS, LAS, LPS, PIR and ASL.
"""

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

nib = pytest.importorskip("nibabel")

from data_pipelines.build import build  # noqa: E402
from data_pipelines.config import load_build_config  # noqa: E402
from medclip.imaging.nifti import check_orientation, display_slice, oriented_slice, source_orientation  # noqa: E402

DATA = Path(nib.__file__).parent / "tests" / "data"
REAL = ["anatomical.nii", "functional.nii", "example4d.nii.gz", "standard.nii.gz", "example_nifti2.nii.gz",
        "reoriented_anat_moved.nii", "resampled_anat_moved.nii"]  # fmt: skip
COPIES = ["RAS", "LAS", "LPS", "PIR", "ASL"]


def _canonical(img) -> np.ndarray:
    data = nib.as_closest_canonical(img).get_fdata()
    return data if data.ndim == 3 else data[..., 0]


@pytest.mark.parametrize("name", REAL)
def test_slices_of_nibabel_test_files_equal_as_closest_canonical(name):
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"{name} not shipped with this nibabel")
    img = nib.load(path)
    can = _canonical(img)
    for axis in range(3):
        n = can.shape[axis]
        for s in sorted({0, n // 2, n - 1}):
            want = np.take(can, s, axis=axis)
            np.testing.assert_allclose(oriented_slice(img, axis, s), want, rtol=0, atol=1e-6)


def _ras_volume() -> nib.Nifti1Image:
    rng = np.random.default_rng(0)
    shape = (11, 13, 9)
    data = rng.integers(0, 1000, shape).astype(np.int16)
    data[:3, :4, :2] = 4000  # an asymmetric marker: right/left or up/down mistakes change the slice
    aff = np.diag([1.5, 1.2, 2.0, 1.0])
    aff[:3, 3] = [-8.0, -7.0, -9.0]
    return nib.Nifti1Image(data, aff)


def _copy(img, codes: str) -> nib.Nifti1Image:
    ornt = nib.orientations.ornt_transform(
        nib.orientations.io_orientation(img.affine), nib.orientations.axcodes2ornt(tuple(codes))
    )
    return img.as_reoriented(ornt)


def test_generated_copies_in_five_orientations_give_identical_slices():
    ras = _ras_volume()
    base = ras.get_fdata()
    for codes in COPIES:
        img = _copy(ras, codes)
        assert source_orientation(img) == codes
        for axis in range(3):
            for s in range(base.shape[axis]):
                np.testing.assert_array_equal(oriented_slice(img, axis, s), np.take(base, s, axis=axis))
    # a hand-made LAS copy: x reversed in the array, the affine's x column negated and shifted
    data = np.asarray(ras.dataobj)[::-1]
    aff = ras.affine.copy()
    aff[:3, 3] += aff[:3, 0] * (data.shape[0] - 1)
    aff[:3, 0] *= -1
    las = nib.Nifti1Image(np.ascontiguousarray(data), aff)
    assert source_orientation(las) == "LAS"
    np.testing.assert_array_equal(oriented_slice(las, 2, 4), base[:, :, 4])


def test_radiological_display_puts_patient_right_on_image_left():
    sl = np.zeros((4, 3))  # RAS axial slice: index 0 = x (left -> right), index 1 = y (posterior -> anterior)
    sl[3, 2] = 1  # most right, most anterior
    rad = display_slice(sl, "radiological")
    assert rad.shape == (3, 4) and rad[0, 0] == 1  # top-left: anterior and the patient's right
    neuro = display_slice(sl, "neurological")
    assert neuro[0, 3] == 1  # top-right in the neurological convention
    with pytest.raises(ValueError, match="radiological or neurological"):
        display_slice(sl, "sideways")
    for bad in ("RAR", "XYZ", "RA"):
        with pytest.raises(ValueError, match="axis codes"):
            check_orientation(bad)
    assert check_orientation("lps") == "LPS"


def test_builder_writes_the_same_slices_for_every_stored_orientation(tmp_path):
    ras = _ras_volume()
    for codes in COPIES:
        d = tmp_path / codes
        d.mkdir()
        nib.save(_copy(ras, codes), d / f"vol_{codes}.nii.gz")
    (tmp_path / "RAS" / "gone.nii.gz").symlink_to(tmp_path / "missing.nii.gz")
    overrides = ["sources={}", "image.format=png", "image.min_side=1"]
    for codes in COPIES:
        overrides += [f"sources.v{codes.lower()}.type=nifti", f"sources.v{codes.lower()}.root={tmp_path / codes}",
                      f"sources.v{codes.lower()}.labels=[normal]", f"sources.v{codes.lower()}.axis=2"]  # fmt: skip
    rep = build(load_build_config(None, overrides), out=tmp_path / "out", workers=1, progress=False, log=lambda *a: 0)
    man = json.loads((tmp_path / "out" / "train" / "manifest.json").read_text())
    assert man["skipped"]["by_reason"] == {"unreadable": 1}  # the dangling symlink, counted
    base = ras.get_fdata()
    got: dict = {}
    for tar in sorted((tmp_path / "out" / "train").glob("*.tar")):
        with tarfile.open(tar) as tf:
            members: dict = {}
            for m in tf.getmembers():
                key, ext = m.name.split(".", 1)
                members.setdefault(key, {})[ext] = tf.extractfile(m).read()
        for mem in members.values():
            meta = json.loads(mem["json"])
            px = np.asarray(Image.open(io.BytesIO(mem["png"])))
            got[(meta["source"], meta["slice"]["index"])] = (px, meta)
    assert rep.splits["train"]["samples"] == len(COPIES) * base.shape[2] == len(got)
    for s in range(base.shape[2]):
        sl = base[:, :, s]
        want = np.fliplr(np.rot90(sl))  # rows anterior -> posterior, columns patient right -> left
        want = np.floor(np.clip((want - sl.min()) * 255.0 / (sl.max() - sl.min()), 0, 255) + 0.5).astype(np.uint8)
        for codes in COPIES:
            px, meta = got[(f"v{codes.lower()}", s)]
            np.testing.assert_array_equal(px, want)
            assert meta["slice"]["source_orientation"] == codes
            assert meta["slice"]["orientation"] == "RAS" and meta["slice"]["display"] == "radiological"
