"""The demo build's report-bearing source: deterministic shards, no planted identifier anywhere in a shard's
text or a manifest, report captions keep the report's negations, label captions ride along."""

import hashlib
import json
import tarfile

from data_pipelines.build import build
from data_pipelines.config import load_build_config
from data_pipelines.sources.demo import DEMO_CLASSES
from data_pipelines.sources.demo_reports import SEED_OFFSET, make_report, planted_identifiers

SMALL = [
    "sources.demo.train=2", "sources.demo.val=1", "sources.demo.test=1", "sources.demo.test_shifted=0",
    "sources.demo.image_size=48", "sources.demo_reports.per_class=3", "sources.demo_reports.image_size=48",
]  # fmt: skip


def _build(out, workers):
    cfg = load_build_config("configs/data/demo.yaml", SMALL)
    return build(cfg, out=out, workers=workers, progress=False, log=lambda *a: None)


def _texts(root) -> tuple[list[dict], str]:
    metas, text = [], []
    for p in sorted(root.rglob("*")):
        if p.name.endswith(".tar"):
            with tarfile.open(p) as tf:
                for m in tf:
                    if m.name.endswith((".json", ".txt")):
                        data = tf.extractfile(m).read().decode()
                        text.append(data)
                        if m.name.endswith(".json"):
                            metas.append(json.loads(data))
        elif p.suffix == ".json":
            text.append(p.read_text())
    return metas, "\n".join(text)


def test_demo_reports_build_is_deterministic_and_phi_free(tmp_path):
    rep = _build(tmp_path / "a", 1)
    _build(tmp_path / "b", 2)
    for split in rep.splits:
        for d in ("a", "b"):
            assert (tmp_path / d / split / "sizes.json").is_file()
        sha = [
            {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / d / split).glob("*.tar")}
            for d in ("a", "b")
        ]
        assert sha[0] == sha[1] and sha[0]
    metas, text = _texts(tmp_path / "a")
    reps = [m for m in metas if m["source"] == "demo_reports"]
    assert len(reps) == 3 * len(DEMO_CLASSES) and rep.splits["train"]["samples"] == 2 * 17 + 3 * 17
    seed = SEED_OFFSET  # build seed 0
    planted = [planted_identifiers(seed, ci, i) for ci in range(len(DEMO_CLASSES)) for i in range(3)]
    assert any("age" in p for p in planted)  # the corpus plants ages over 89 too
    for p in planted:
        for cls, value in p.items():
            needle = f"Age: {value}" if cls == "age" else value
            assert needle not in text, (cls, value)
    man = json.loads((tmp_path / "a" / "train" / "manifest.json").read_text())
    phi = man["captions"]["pairs"]["demo_reports"]["phi_replaced"]
    assert phi["NAME"] >= 2 * 51 and phi["DATE"] >= 2 * 51 and phi["ID"] >= 2 * 51 and phi["PHONE"] >= 51
    for m in reps:
        ci = next(i for i, c in enumerate(DEMO_CLASSES) if (c.modality, c.label) == (m["modality"], m["labels"][0]))
        assert "[NAME]" in m["report"] and "FINDINGS:" in m["report"]
        assert m["report"] == m["report"].strip() and m["text_kind"] == "report"
        kinds = m["caption_kinds"]
        assert "report" in kinds and "llm_template" in kinds and kinds.index("llm_template") > kinds.index("report")
        others = [
            c.label for c in DEMO_CLASSES if c.modality == m["modality"] and c.label not in ("normal", m["labels"][0])
        ]
        for cap, kind in zip(m["captions"], kinds):
            if kind != "report":
                continue
            low = cap.lower()
            for o in others:  # a finding the report negates is only ever mentioned negated
                if o in low:
                    assert low.startswith("no ") or "no evidence" in low or "no " in low.split(o)[0], cap
        assert make_report(seed, ci, 0).startswith("EXAMINATION:")
