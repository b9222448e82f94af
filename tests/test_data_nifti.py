"""NIfTI source: slices along an axis with a stride, rescaling, windowing against a hand computation, shards."""

import io
import json
import tarfile

import numpy as np
import pytest
from PIL import Image

from data_pipelines.build import build
from data_pipelines.config import load_build_config
from data_pipelines.imageio import pixel_sha256

nib = pytest.importorskip("nibabel")

SHAPE = (24, 28, 22)
SLOPE, INTER = 2.0, -1024.0


def _volume() -> np.ndarray:
    x, y, z = np.meshgrid(*(np.arange(n) for n in SHAPE), indexing="ij")
    return (7 * x - 5 * y + 30 * z + 300).astype(np.int16)  # stored values; HU = 2 * v - 1024


def _members(root) -> dict:
    out = {}
    for tar in sorted(root.glob("*.tar")):
        with tarfile.open(tar) as tf:
            for m in tf.getmembers():
                key, ext = m.name.split(".", 1)
                out.setdefault(key, {})[ext] = tf.extractfile(m).read()
    return out


def _soft_tissue(hu: np.ndarray, c: float = 40.0, w: float = 400.0) -> np.ndarray:
    y = ((hu - (c - 0.5)) / (w - 1) + 0.5) * 255.0  # DICOM linear VOI, written out by hand
    return np.floor(np.clip(y, 0, 255) + 0.5).astype(np.uint8)


def _minmax(v: np.ndarray) -> np.ndarray:
    return np.floor(np.clip((v - v.min()) * 255.0 / (v.max() - v.min()), 0, 255) + 0.5).astype(np.uint8)


def test_nifti_slices_stride_window_and_shards(tmp_path):
    vol = _volume()
    root = tmp_path / "vols"
    root.mkdir()
    img = nib.Nifti1Image(vol, np.eye(4))
    img.header.set_slope_inter(SLOPE, INTER)
    nib.save(img, root / "case.nii.gz")
    nib.save(nib.Nifti1Image(np.zeros((30, 30), np.int16), np.eye(4)), root / "flat.nii.gz")  # 2-D: unsupported
    (root / "broken.nii").write_bytes(b"not a nifti file")
    cfg = load_build_config(None, [
        "sources={}", "image.format=png", "hygiene.dedup=none",  # linear volume: equal min-max slices
        "sources.ax.type=nifti", f"sources.ax.root={root}", "sources.ax.axis=2", "sources.ax.stride=3",
        "sources.ax.window=soft_tissue", "sources.ax.anatomy=abdomen", "sources.ax.labels=[liver lesion]",
        "sources.sag.type=nifti", f"sources.sag.root={root}", "sources.sag.axis=0", "sources.sag.stride=5",
        "sources.sag.skip_edges=0.1", "sources.sag.modality=mri", "sources.sag.labels=[normal]",
    ])  # fmt: skip
    rep = build(cfg, out=tmp_path / "out", workers=1, progress=False, log=lambda *a: None)
    hu = vol.astype(np.float64) * SLOPE + INTER
    # identity affine = RAS; radiological display: anterior / superior up, the patient's right on the left
    expect = {("ax", s): _soft_tissue(np.fliplr(np.rot90(hu[:, :, s]))) for s in range(0, SHAPE[2], 3)}
    lo = int(SHAPE[0] * 0.1)  # 2 slices dropped at each end
    expect |= {("sag", s): _minmax(np.fliplr(np.rot90(hu[s]))) for s in range(lo, SHAPE[0] - lo, 5)}
    assert sorted(s for _, s in expect if _ == "sag") == [2, 7, 12, 17]
    assert rep.splits["train"]["samples"] == len(expect) == 8 + 4
    man = json.loads((tmp_path / "out" / "train" / "manifest.json").read_text())
    # flat.nii.gz (2-D) and broken.nii, once per source
    assert man["skipped"]["by_reason"] == {"unreadable": 2, "unsupported": 2}
    seen = set()
    for members in _members(tmp_path / "out" / "train").values():
        meta = json.loads(members["json"])
        px = np.asarray(Image.open(io.BytesIO(members["png"])))
        want = expect[(meta["source"], meta["slice"]["index"])]
        assert px.shape == want.shape and np.array_equal(px, want)
        assert meta["sha256"] == pixel_sha256(want)
        assert meta["slice"]["axis"] == (2 if meta["source"] == "ax" else 0)
        assert meta["modality"] == ("ct" if meta["source"] == "ax" else "mri")
        assert meta["labels"] == (["liver lesion"] if meta["source"] == "ax" else ["normal"])
        seen.add((meta["source"], meta["slice"]["index"]))
    assert seen == set(expect)
    # the window really clips: slice 6 spans -334..258 HU, wider than the 400 HU soft-tissue window
    assert expect[("ax", 6)].min() == 0 and expect[("ax", 6)].max() == 255
