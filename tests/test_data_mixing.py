"""One build mixing a label source and a pair source, with per-source caps and weights in the manifest."""

import csv
import io
import json
import tarfile

import numpy as np
import pytest
from PIL import Image

from data_pipelines.build import build
from data_pipelines.config import BuildConfig
from medclip.config import ConfigError

DEMO = {"type": "demo", "classes": ["xray/normal", "xray/pneumonia"], "train": 12, "val": 2, "test": 0,
        "test_shifted": 0, "image_size": 32}  # fmt: skip


def _pairs(tmp_path, n=6) -> dict:
    rng = np.random.default_rng(5)
    with open(tmp_path / "p.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "caption"])
        for i in range(n):
            buf = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(buf, format="PNG")
            (tmp_path / f"{i}.png").write_bytes(buf.getvalue())
            w.writerow([f"{i}.png", f"Chest radiograph {i} with a small nodule."])
    return {"type": "pairs", "path": str(tmp_path / "p.csv"), "modality": "xray", "anatomy": "chest"}


def _keys(root, split="train") -> set[str]:
    out = set()
    for tar in (root / split).glob("*.tar"):
        with tarfile.open(tar) as tf:
            out |= {m.name.partition(".")[0] for m in tf}
    return out


def _run(tmp_path, name, mix):
    cfg = BuildConfig(name="mix", out=str(tmp_path / name), sources={"demo": DEMO, "roco": _pairs(tmp_path)}, mix=mix)
    rep = build(cfg, workers=1, progress=False, log=lambda *a: None)
    return rep, json.loads((tmp_path / name / "train" / "manifest.json").read_text())


def test_caps_and_weights_are_applied_and_recorded(tmp_path):
    full, man0 = _run(tmp_path, "full", {})
    assert man0["counts"]["source"] == {"demo": 24, "roco": 6} and "mixing" not in man0
    rep, man = _run(tmp_path, "cap", {"demo": {"cap": 10}})
    assert man["counts"]["source"] == {"demo": 10, "roco": 6}
    assert man["mixing"] == {
        "demo": {"available": 24, "kept": 10, "cap": 10, "weight": None, "share": round(10 / 16, 6)},
        "roco": {"available": 6, "kept": 6, "cap": None, "weight": None, "share": round(6 / 16, 6)},
    }
    assert rep.splits["val"]["samples"] == 4  # cap applies to train only (splits: [train])
    assert _keys(tmp_path / "cap") < _keys(tmp_path / "full")  # kept samples keep their keys
    # weights 2:1 -> the largest 2:1 selection: demo 12 of 24, roco all 6
    _, man = _run(tmp_path, "w", {"demo": {"weight": 2.0}, "roco": {"weight": 1.0}})
    assert man["counts"]["source"] == {"demo": 12, "roco": 6}
    assert man["mixing"]["demo"]["share"] == pytest.approx(2 / 3, abs=1e-6)
    assert man["config"]["mix"] == {"demo": {"weight": 2.0}, "roco": {"weight": 1.0}}
    # deterministic: same selection on rerun
    _run(tmp_path, "w2", {"demo": {"weight": 2.0}, "roco": {"weight": 1.0}})
    assert _keys(tmp_path / "w") == _keys(tmp_path / "w2")


def test_mix_errors(tmp_path):
    cfg = BuildConfig(sources={"demo": DEMO}, mix={"dmo": {"cap": 1}})
    with pytest.raises(ConfigError, match="did you mean demo"):
        cfg.validate()
    with pytest.raises(ConfigError, match="weight must be > 0"):
        BuildConfig(sources={"demo": DEMO}, mix={"demo": {"weight": 0}}).validate()
    with pytest.raises(ConfigError, match="caps"):
        BuildConfig(sources={"demo": DEMO}, mix={"demo": {"caps": 3}}).validate()
