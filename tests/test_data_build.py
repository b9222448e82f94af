"""Shard builder: format, determinism, parallel == serial, resume, exclusion list, bad inputs, verify, CLI."""

import hashlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_pipelines.build import BuildInterrupted, build
from data_pipelines.cli import cli
from data_pipelines.config import load_build_config
from data_pipelines.imageio import pixel_sha256
from data_pipelines.sources.demo import class_index, render
from data_pipelines.verify import check_meta, verify_paths

SMALL = [
    "sources.demo.classes=[xray/normal, xray/pneumonia, fundus/glaucoma]",
    "sources.demo.train=12",
    "sources.demo.val=2",
    "sources.demo.test=3",
    "sources.demo.test_shifted=0",
    "sources.demo.image_size=48",
    "shards.max_samples=10",
]


def _digest(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


def _samples(tar_path: Path) -> dict:
    out: dict = {}
    with tarfile.open(tar_path) as tf:
        for m in tf:
            key, _, ext = m.name.partition(".")
            out.setdefault(key, {})[ext] = tf.extractfile(m).read()
    return out


@pytest.fixture(scope="module")
def serial_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    report = build(load_build_config(None, SMALL), out=out, workers=1, progress=False, log=lambda *a: None)
    return out, report


def test_format_and_manifest(serial_build):
    out, report = serial_build
    assert report.splits["train"]["samples"] == 36 and report.splits["train"]["shards"] == 4
    assert sorted(p.name for p in out.iterdir()) == ["test", "train", "val"]
    sizes = json.loads((out / "train" / "sizes.json").read_text())
    assert sizes == {f"train-{i:06d}.tar": n for i, n in enumerate([10, 10, 10, 6])}
    man = json.loads((out / "train" / "manifest.json").read_text())
    assert man["num_samples"] == 36 and man["counts"]["modality"] == {"fundus": 12, "xray": 24}
    assert man["counts"]["modality_label"]["xray/pneumonia"] == 12
    for s in man["shards"]:
        assert hashlib.sha256((out / "train" / s["file"]).read_bytes()).hexdigest() == s["sha256"]
    assert man["config"]["sources"]["demo"]["train"] == 12 and len(man["config_hash"]) == 64
    samples = {}
    for name in sizes:
        samples.update(_samples(out / "train" / name))
    assert len(samples) == 36
    shuffled_sources = [json.loads(v["json"])["labels"][0] for v in list(samples.values())[:12]]
    assert len(set(shuffled_sources)) > 1  # globally shuffled, not class by class
    for key, members in samples.items():
        assert set(members) == {"jpg", "json", "txt"}
        meta = json.loads(members["json"])
        assert check_meta(meta) == [] and meta["key"] == key and key.startswith("demo-")
        assert members["txt"].decode() in meta["captions"] and len(meta["captions"]) == 10
        img = Image.open(io.BytesIO(members["jpg"]))
        assert img.size == (48, 48) and img.mode == ("RGB" if meta["modality"] == "fundus" else "L")
        # the recorded sha256 is the one of the generated pixels (before JPEG)
        ci, split, idx = meta["modality"], meta["split"], int(meta["source_id"].rsplit("-", 1)[1])
        pix = render(class_index(ci, meta["labels"][0]), split=split, index=idx, seed=0, size=48)
        assert meta["sha256"] == pixel_sha256(pix)
    assert verify_paths([str(out)], log=lambda *a: None)


def test_rebuild_is_byte_identical_and_parallel_equals_serial(serial_build, tmp_path):
    out, _ = serial_build
    build(load_build_config(None, SMALL), out=tmp_path / "p", workers=2, progress=False, log=lambda *a: None)
    assert _digest(tmp_path / "p") == _digest(out)
    # rerun over the finished output: everything verified and reused, nothing rewritten
    rep = build(load_build_config(None, SMALL), out=tmp_path / "p", workers=2, progress=False, log=lambda *a: None)
    assert rep.chunks_written == 0 and rep.chunks_reused == 4 + 1 + 1
    assert _digest(tmp_path / "p") == _digest(out)


def test_resume_after_interruption_and_corruption(serial_build, tmp_path):
    out, _ = serial_build
    cfg = load_build_config(None, SMALL)
    with pytest.raises(BuildInterrupted):
        build(cfg, out=tmp_path, workers=1, progress=False, stop_after=2, log=lambda *a: None)
    assert not (tmp_path / "train" / "manifest.json").exists()
    rep = build(cfg, out=tmp_path, workers=1, progress=False, log=lambda *a: None)
    assert rep.chunks_reused == 2 and rep.chunks_written == 4
    assert _digest(tmp_path) == _digest(out)
    shard = tmp_path / "train" / "train-000001.tar"
    shard.write_bytes(b"garbage")  # a damaged shard is detected by checksum and rebuilt
    rep = build(cfg, out=tmp_path, workers=1, progress=False, log=lambda *a: None)
    assert rep.chunks_written == 1 and _digest(tmp_path) == _digest(out)


def test_exclusion_list(tmp_path):
    ci = class_index("xray", "pneumonia")
    shas = [pixel_sha256(render(ci, split="train", index=i, seed=0, size=48)) for i in (0, 5)]
    test_sha = pixel_sha256(render(ci, split="test", index=1, seed=0, size=48))
    ex = tmp_path / "exclude.txt"
    ex.write_text("# eval images\n" + "\n".join(shas + [test_sha]) + "\n")
    cfg = load_build_config(None, SMALL + [f"hygiene.exclude=[{ex}]"])
    rep = build(cfg, out=tmp_path / "o", workers=1, progress=False, log=lambda *a: None)
    assert rep.splits["train"]["excluded"] == 2 and rep.splits["train"]["samples"] == 34
    assert rep.splits["test"]["excluded"] == 0 and rep.splits["test"]["samples"] == 9  # not applied to test
    man = json.loads((tmp_path / "o" / "train" / "manifest.json").read_text())
    assert man["excluded"] == 2 and man["skipped"]["by_reason"] == {"excluded": 2}
    assert verify_paths([str(tmp_path / "o" / "train")], exclude=[str(ex)], log=lambda *a: None)
    # the list is checked against training splits only; a test split is compared only when asked
    assert verify_paths([str(tmp_path / "o" / "test")], exclude=[str(ex)], log=lambda *a: None)
    assert not verify_paths(
        [str(tmp_path / "o" / "test")], exclude=[str(ex)], exclude_splits=["test"], log=lambda *a: None
    )


def test_bad_inputs_are_skipped_and_counted(tmp_path):
    root = tmp_path / "imgs"
    (root / "pneumonia").mkdir(parents=True)
    (root / "normal").mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (40, 40), dtype=np.uint8)).save(root / "normal" / f"ok{i}.png")
    Image.fromarray(rng.integers(0, 255, (30, 50, 3), dtype=np.uint8)).save(root / "pneumonia" / "ok.jpg")
    (root / "pneumonia" / "empty.png").write_bytes(b"")
    (root / "pneumonia" / "garbage.png").write_bytes(b"not an image at all")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "normal" / "tiny.png")
    table = tmp_path / "t.csv"
    table.write_text("path,Pneumonia,Effusion\nnormal/ok0.png,1,-1\nnormal/ok1.png,,\nnormal/ok2.png,0,0\n"
                     "pneumonia/ok.jpg,-1,1\nmissing.png,1,0\n")  # fmt: skip
    cfg = load_build_config(None, [
        "sources={}", "sources.f.type=folder", f"sources.f.root={root}", "sources.f.modality=xray",
        "sources.f.anatomy=chest", "sources.c.type=csv", f"sources.c.csv={table}", f"sources.c.root={root}",
        "sources.c.label_columns=[Pneumonia, Effusion]", "sources.c.anatomy=chest", "image.format=original",
    ])  # fmt: skip
    rep = build(cfg, out=tmp_path / "o", workers=1, progress=False, log=lambda *a: None)
    man = json.loads((tmp_path / "o" / "train" / "manifest.json").read_text())
    assert man["skipped"]["by_reason"] == {"missing_labels": 1, "too_small": 1, "unreadable": 2, "zero_size": 1}
    assert rep.splits["train"]["samples"] == 4 + 3  # folder: 3 normal + 1 pneumonia; csv: rows 0, 2, 3
    labels = {}
    for members in _samples(tmp_path / "o" / "train" / "train-000000.tar").values():
        meta = json.loads(members["json"])
        if meta["source"] == "c":
            labels[meta["source_id"]] = meta["labels"]
            assert meta["format"] in ("png", "jpg") and not meta["reencoded"]  # original bytes kept
    # labels are canonicalised by the caption converter (lower case)
    assert labels == {"normal/ok0.png": ["pneumonia"], "normal/ok2.png": ["normal"], "pneumonia/ok.jpg": ["effusion"]}


def test_cli_build_and_errors(tmp_path, capsys):
    assert cli(["build", "--out", str(tmp_path), "--no-progress", "--workers", "1", *SMALL]) == 0
    assert "train" in capsys.readouterr().out
    assert cli(["verify", str(tmp_path)]) == 0
    assert cli(["build", "--out", str(tmp_path), "shards.max_sample=3"]) == 2
    assert "max_samples" in capsys.readouterr().err
    assert cli(["build", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert cli(["verify", str(tmp_path / "nothing")]) == 2
