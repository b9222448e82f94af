"""CLIP_benchmark interop: a suite dataset in its webdataset layout (read back by CLIP_benchmark's own loader),
the numpy-2-safe accuracy, and the documented command reproducing medclip-eval's numbers."""

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from test_zeroshot_fixtures import write_shards

import medclip
from medclip.compat.clip_benchmark import accuracy
from medclip.zeroshot_head import build_text_classifier
from zeroshot.clip_benchmark_export import command_line, export_dataset
from zeroshot.data import read_image, resolve_items
from zeroshot.suites import class_prompts, load_suite

pytest.importorskip("clip_benchmark")
BIN = Path(sys.executable).parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    """The demo suite's test split in the shard layout: every demo class, 2 images each."""
    from data_pipelines.sources.demo import DEMO_CLASSES

    root = tmp_path_factory.mktemp("demo")
    samples = [(c.modality, c.label, f"{c.label} seen on {c.modality}") for c in DEMO_CLASSES for _ in range(2)]
    write_shards(root / "test", samples, per_shard=9, seed=0)
    return root


def test_layout_reads_back_through_clip_benchmark(tmp_path, demo_root):
    from clip_benchmark.datasets.builder import build_dataset

    summary = export_dataset("demo", "demo", tmp_path / "cb", data_root=str(demo_root), per_shard=10)
    suite = load_suite("demo", demo_root)
    ds = suite.datasets[0]
    items = resolve_items(suite, ds)
    assert summary["samples"] == len(items) == 34 and summary["shards"] == 4
    assert (tmp_path / "cb" / "test" / "nshards.txt").read_text().strip() == "4"
    templates = (tmp_path / "cb" / "zeroshot_classification_templates.txt").read_text().splitlines()
    assert templates == [t.replace("{}", "{c}") for t in ds.templates] and all("{c}" in t for t in templates)
    prompts = json.loads((tmp_path / "cb" / "prompts.json").read_text())["wds/demo"]
    assert list(prompts.values()) == class_prompts(ds)
    with tarfile.open(tmp_path / "cb" / "test" / "0.tar") as tf:
        names = tf.getnames()
    assert names[:2] == ["00000000.png", "00000000.cls"]
    cb = build_dataset(
        "wds/demo",
        root=str(tmp_path / "cb"),
        transform=lambda im: np.asarray(im),
        custom_template_file=str(tmp_path / "cb" / "prompts.json"),
    )
    assert cb.classes == [c.name for c in ds.classes]
    assert cb.templates == prompts  # the per-class ensemble, keyed by class name
    got = list(cb)
    assert [int(y) for _, y in got] == items.labels.tolist()
    for (pixels, _), src in zip(got, items.sources):
        np.testing.assert_array_equal(pixels, np.asarray(read_image(src)))


def test_accuracy_matches_a_naive_count():
    torch.manual_seed(0)
    logits, target = torch.randn(50, 7), torch.randint(0, 7, (50,))
    ranks = (logits > logits[torch.arange(50), target][:, None]).sum(1)  # classes scored above the truth
    want = [int((ranks < 1).sum()) / 50, int((ranks < 5).sum()) / 50]
    assert accuracy(logits, target, topk=(1, 5)) == want


@pytest.mark.slow
def test_documented_command_reproduces_medclip_eval(tmp_path, demo_root):
    torch.manual_seed(0)
    model, _, tokenizer = medclip.create_model("medclip-tiny")
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    ckpt = tmp_path / "tiny.pt"
    torch.save({"name": "medclip-tiny", "step": 1, "epoch": 1, "state_dict": model.state_dict()}, ckpt)
    r = subprocess.run([str(BIN / "medclip-eval"), "--suite", "demo", "--datasets", "demo", "--data-root",
                        str(demo_root), "--model", str(ckpt), "--device", "cpu", "--workers", "0", "--quiet",
                        "--out", str(tmp_path / "rep")], capture_output=True, text=True, env=ENV)  # fmt: skip
    assert r.returncode == 0, r.stderr
    ours = json.loads((tmp_path / "rep" / "report.json").read_text())["datasets"][0]["metrics"]
    summary = export_dataset("demo", "demo", tmp_path / "cb", data_root=str(demo_root))
    cmd = command_line(summary, "medclip-tiny", str(ckpt), str(tmp_path / "cb.json")).split()
    assert cmd[:3] == ["python", "-m", "medclip.compat.clip_benchmark"]
    clf = tmp_path / "clf.pt"
    r = subprocess.run([sys.executable, *cmd[1:], "--save_clf", str(clf)], capture_output=True, text=True, env=ENV,
                       cwd=tmp_path, timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    theirs = json.loads((tmp_path / "cb.json").read_text())["metrics"]
    assert theirs["acc1"] == pytest.approx(ours["accuracy"], abs=1e-12)
    assert theirs["acc5"] == pytest.approx(ours["top5"], abs=1e-12)
    assert theirs["mean_per_class_recall"] == pytest.approx(ours["balanced_accuracy"], abs=1e-12)
    suite = load_suite("demo", demo_root)
    mine = build_text_classifier(model, tokenizer, class_prompts(suite.datasets[0]))
    torch.testing.assert_close(torch.load(clf).T, mine, atol=1e-5, rtol=0)
