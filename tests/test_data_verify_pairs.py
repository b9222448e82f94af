"""`verify` accepts unlabelled image-text pairs (every caption native / report text) and still rejects a
label-derived sample without labels."""

import csv
import io

import numpy as np
from PIL import Image

from data_pipelines.build import build
from data_pipelines.config import BuildConfig
from data_pipelines.verify import check_meta, verify_paths

BASE = {
    "key": "k", "source": "s", "source_id": "1", "split": "train", "modality": "ct", "anatomy": "liver",
    "captions": ["Axial CT of the liver."], "caption_backend": "native", "sha256": "0" * 64,
    "width": 8, "height": 8,
}  # fmt: skip


def test_check_meta_labels_rule():
    assert check_meta({**BASE, "labels": [], "caption_kinds": ["native"]}) == []
    assert check_meta({**BASE, "labels": [], "caption_kinds": ["report"]}) == []
    assert check_meta({**BASE, "labels": ["normal"], "caption_kinds": ["native"]}) == []
    errs = check_meta({**BASE, "labels": [], "caption_kinds": ["llm_template"]})
    assert errs == ["labels must be non-empty unless every caption is native or report text"]
    errs = check_meta({**BASE, "labels": [], "captions": ["a.", "b."], "caption_kinds": ["native", "llm_template"]})
    assert len(errs) == 1 and errs[0].startswith("labels must be non-empty")
    assert check_meta({**BASE, "labels": ["", "x"], "caption_kinds": ["native"]}) == [
        "labels must be a list of non-empty strings"
    ]


def test_unlabelled_pairs_build_verifies(tmp_path):
    rng = np.random.default_rng(3)
    with open(tmp_path / "t.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "caption"])
        for i in range(4):
            buf = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (32, 40 + i), dtype=np.uint8)).save(buf, format="PNG")
            (tmp_path / f"{i}.png").write_bytes(buf.getvalue())
            w.writerow([f"{i}.png", f"axial ct of the liver, case {i}"])
    src = {"type": "pairs", "path": str(tmp_path / "t.csv"), "modality": "ct"}
    cfg = BuildConfig(name="pairs", out=str(tmp_path / "out"), sources={"p": src})
    build(cfg, workers=1, progress=False, log=lambda *a: None)
    lines: list[str] = []
    assert verify_paths([str(tmp_path / "out")], log=lines.append), lines
