"""Build planning: caption banks are prefetched together (LLM concurrency), labels survive every policy."""

import numpy as np
from PIL import Image
from test_captions_openai import KEY_ENV, SECRET, LLMServer

from data_pipelines.captions import CaptionConverter
from data_pipelines.config import load_build_config
from data_pipelines.plan import make_sources, plan_build

CLASSES = ["xray/pneumonia", "xray/cardiomegaly", "xray/pleural effusion", "ct/kidney stone", "mri/brain tumor"]


def test_plan_generates_all_banks_concurrently(tmp_path, monkeypatch):
    labels = [c.split("/")[1] for c in CLASSES]
    srv = LLMServer({lab: ["slow"] for lab in labels})  # every answer takes 0.25 s
    calls = []
    orig = CaptionConverter.bank
    monkeypatch.setattr(CaptionConverter, "bank", lambda self, *a, **k: calls.append(a) or orig(self, *a, **k))
    monkeypatch.setenv(KEY_ENV, SECRET)
    try:
        cfg = load_build_config(None, [
            f"sources.demo.classes=[{', '.join(CLASSES)}]", "sources.demo.train=2", "sources.demo.val=1",
            "sources.demo.test=0", "sources.demo.test_shifted=0", "captions.backend=openai",
            "captions.model=test-llm", f"captions.base_url={srv.url}", f"captions.api_key_env={KEY_ENV}",
            "captions.concurrency=4", "captions.cache=", "captions.timeout=5",
        ])  # fmt: skip
        plan = plan_build(cfg, make_sources(cfg), log=lambda *a: None)
    finally:
        srv.close()
    assert calls == []  # no one-triple-at-a-time calls
    assert sorted(f for f, _ in srv.calls) == sorted(labels)  # one request per triple, no duplicates
    assert 2 <= srv.max_inflight <= 4  # generated in parallel, within the concurrency limit
    assert len(plan.captions) == 5 and all(c.backend == "openai" for c in plan.captions.values())
    assert plan.caption_stats["records"] == 5  # each triple counted once (no second resolve)
    assert sum(len(ch) for chunks in plan.chunks.values() for ch in chunks) == 5 * 3


def test_plan_labels_are_the_resolved_record_labels_under_every_policy(tmp_path):
    root = tmp_path / "img"
    root.mkdir()
    for i in range(3):
        Image.fromarray(np.full((32, 32), 40 * i, np.uint8)).save(root / f"{i}.png")
    table = tmp_path / "t.csv"
    table.write_text("path,Pneumonia,Effusion,Cardiomegaly\n0.png,1,1,0\n1.png,0,-1,1\n2.png,,,\n")
    base = [
        "sources={}", "sources.c.type=csv", f"sources.c.csv={table}", f"sources.c.root={root}",
        "sources.c.label_columns=[Pneumonia, Effusion, Cardiomegaly]", "sources.c.modality=xray",
        "sources.c.anatomy=chest", "sources.c.uncertain_policy=positive",
    ]  # fmt: skip
    for policy in ("compose", "per_label", "first"):
        cfg = load_build_config(None, [*base, f"captions.multilabel_policy={policy}"])
        plan = plan_build(cfg, make_sources(cfg), log=lambda *a: None)
        got = {it.source_id: plan.captions[tid].labels for ch in plan.chunks["train"] for _, it, tid in ch}
        assert got == {"0.png": ["pneumonia", "effusion"], "1.png": ["effusion", "cardiomegaly"]}, policy
        assert [s["reason"] for s in plan.skips["train"]] == ["missing_labels"]  # the all-blank row
        tid = next(t for ch in plan.chunks["train"] for _, it, t in ch if it.source_id == "1.png")
        caps = plan.captions[tid].captions
        if policy == "first":  # captions describe the first finding only; the labels keep both
            assert not any("cardiomegaly" in c.lower() for c in caps)
        else:
            assert any("cardiomegaly" in c.lower() for c in caps)
