"""De-duplication by decoded-pixel sha256 within a source (hygiene.dedup), on pydicom-data's real files
(the same image under many transfer syntaxes) and on a generated folder source."""

import json
import tarfile
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from data_pipelines.build import build
from data_pipelines.config import load_build_config
from data_pipelines.verify import verify_paths


def _metas(split_dir) -> list[dict]:
    out = []
    for tar in sorted(split_dir.glob("*.tar")):
        with tarfile.open(tar) as tf:
            out += [json.loads(tf.extractfile(m).read()) for m in tf if m.name.endswith(".json")]
    return out


def _build(tmp_path, name, extra):
    cfg = load_build_config(None, ["sources={}", "image.min_side=1", *extra])
    rep = build(cfg, out=tmp_path / name, workers=1, progress=False, log=lambda *a: None)
    return rep, tmp_path / name


def test_folder_source_duplicates_dropped_eval_copy_kept(tmp_path):
    rng = np.random.default_rng(0)
    a, b, c = (rng.integers(0, 256, (20, 20), dtype=np.uint8) for _ in range(3))
    for split, files in {"train": {"x1": a, "x2": a, "x3": b, "x4": c}, "test": {"y1": c}}.items():
        d = tmp_path / "imgs" / split / "normal"
        d.mkdir(parents=True)
        for n, arr in files.items():
            Image.fromarray(arr).save(d / f"{n}.png")
    src = ["sources.f.type=folder", f"sources.f.root={tmp_path / 'imgs'}", "sources.f.split_dirs=true"]
    rep, out = _build(tmp_path, "on", src + ["shards.max_samples=2", "image.format=png"])
    assert rep.duplicates == 2  # x2 (= x1) and x4 (= test's y1: the eval copy wins)
    assert rep.splits["train"]["samples"] == 2 and rep.splits["test"]["samples"] == 1
    man = json.loads((out / "train" / "manifest.json").read_text())
    assert man["skipped"]["by_reason"] == {"duplicate": 2}
    assert sorted(s["source_id"] for s in man["skipped"]["items"]) == ["train/normal/x2.png", "train/normal/x4.png"]
    assert verify_paths([str(out)], log=lambda *a: None)
    rep_off, _ = _build(tmp_path, "off", src + ["hygiene.dedup=none"])
    assert rep_off.duplicates == 0 and rep_off.splits["train"]["samples"] == 4
    rep2, _ = _build(tmp_path, "on", src + ["shards.max_samples=2", "image.format=png"])  # resume: unchanged
    assert rep2.chunks_written == 0 and rep2.duplicates == 0 and rep2.splits["train"]["samples"] == 2


def test_pydicom_data_one_sample_per_distinct_array(tmp_path):
    pytest.importorskip("pydicom")
    src = ["sources.p.type=pydicom_data"]
    rep_off, off = _build(tmp_path, "off", src + ["hygiene.dedup=none"])
    shas = [m["sha256"] for m in _metas(off / "train")]
    if len(shas) == len(set(shas)):
        pytest.skip("no duplicate images installed")
    rep_on, on = _build(tmp_path, "on", src)
    kept = [m["sha256"] for m in _metas(on / "train")]
    assert sorted(kept) == sorted(set(shas))  # one per distinct decoded array, each distinct one kept
    assert rep_on.duplicates == len(shas) - len(set(shas)) == sum(n - 1 for n in Counter(shas).values())
    assert verify_paths([str(on)], log=lambda *a: None)
