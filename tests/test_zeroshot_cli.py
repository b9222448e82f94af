"""medclip-eval in-process: demo suite report, unimed21 with two fixture datasets, one-line errors."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from test_zeroshot_fixtures import write_imagefolder, write_shards

import medclip
from zeroshot import ZeroShotClassifier
from zeroshot.cli import cli
from zeroshot.data import read_image, resolve_items
from zeroshot.suites import class_prompts, load_suite


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread (and one BLAS thread): on 2 busy cores, 2 threads spin-wait ~50x slower."""
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model, _, _ = medclip.create_model("medclip-tiny")
    path = tmp_path_factory.mktemp("ckpt") / "latest.pt"
    torch.save(
        {
            "epoch": 1,
            "step": 10,
            "name": "medclip-tiny",
            "state_dict": model.state_dict(),
            "optimizer": {},
            "scaler": {},
            "config": {},
        },
        path,
    )
    return path


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    from data_pipelines.sources.demo import DEMO_CLASSES

    root = tmp_path_factory.mktemp("demo")
    samples = [(c.modality, c.label, f"{c.label} seen on {c.modality}") for c in DEMO_CLASSES for _ in range(2)]
    for i, split in enumerate(["test", "test_shifted", "train", "val"]):
        write_shards(root / split, samples, per_shard=9, seed=i)
    return root


def test_demo_report(tmp_path, checkpoint, demo_root, capsys):
    from zeroshot.fewshot.report import write_report as write_fewshot  # the few-shot engineer's format

    runs = [
        {
            "setting": "fewshot",
            "dataset": d,
            "method": "coop",
            "k": k,
            "seed": s,
            "accuracy": 0.1 * k + s / 100,
            "error": 0.0,
            "macro_f1": 0.0,
        }
        for d in ("a", "b")
        for k in (1, 2, 4)
        for s in (1, 2, 3)
    ]
    runs.append(
        {
            "setting": "fewshot",
            "dataset": "a",
            "method": "zeroshot",
            "k": 0,
            "seed": 0,
            "accuracy": 0.3,
            "error": 0.7,
            "macro_f1": 0.0,
        }
    )
    write_fewshot(tmp_path / "fs", runs, {"command": "test"})
    fs = tmp_path / "fs"
    out = tmp_path / "report"
    argv = [
        "--suite",
        "demo",
        "--model",
        str(checkpoint),
        "--data-root",
        str(demo_root),
        "--out",
        str(out),
        "--workers",
        "2",
        "--batch-size",
        "16",
        "--linear-probe",
        "--robustness",
        "--corruptions",
        "gaussian_noise",
        "stain_bubble",
        "--robustness-max-samples",
        "12",
        "--fewshot-results",
        str(fs),
    ]
    assert cli(argv) == 0
    printed = capsys.readouterr().out
    assert f"report: {out / 'report.md'}" in printed
    for f in [
        "report.json",
        "report.md",
        "per_modality.png",
        "reliability.png",
        "corruption_severity_demo.png",
        "fewshot_curves.png",
    ]:
        assert (out / f).stat().st_size > 0, f
    assert Image.open(out / "per_modality.png").size[0] > 100
    rep = json.loads((out / "report.json").read_text())
    assert rep["suite"]["name"] == "demo" and rep["model"]["name"] == "medclip-tiny"
    assert rep["model"]["id"] == str(checkpoint) and "torch" in rep["versions"]
    demo = rep["datasets"][0]
    assert demo["n_templates"] == 4 and demo["n_samples"] == 34 and demo["prompts_per_class"] == [12] * 17
    assert set(rep["aggregate"]["per_modality"]) == {"xray", "ct", "mri", "ultrasound", "pathology", "fundus"}
    mods = rep["aggregate"]["per_modality"]
    assert rep["aggregate"]["mean_of_modality_means"] == pytest.approx(np.mean([v["score"] for v in mods.values()]))
    assert rep["aggregate"]["mean_over_datasets"] == pytest.approx(demo["score"])  # shifted copy excluded
    assert rep["aggregate"]["shift"][0]["name"] == "demo_shifted"
    assert rep["linear_probe"][0]["status"] == "ok" and rep["linear_probe"][0]["n_train"] == 34
    rob = rep["robustness"]["datasets"]["demo"]
    assert len(rob["errors"]["gaussian_noise"]) == 5 and rob["n_per_corruption"]["gaussian_noise"] == 12
    assert rob["n_per_corruption"]["stain_bubble"] < 12  # pathology samples only
    assert rep["fewshot"]["curves"]["coop"]["4"][0] == pytest.approx(0.4 + 0.02)
    assert rep["fewshot"]["curves"]["coop"]["4"][1] == pytest.approx(np.std([0.01, 0.02, 0.03]))
    assert rep["fewshot"]["baselines"] == {"zeroshot": pytest.approx(0.3)} and rep["fewshot"]["ks"] == [1, 2, 4]
    assert rep["retrieval"][0]["n_images"] == 34
    md = (out / "report.md").read_text()
    for s in [
        "mean over datasets",
        "mean of per-modality means",
        "separate from the training captions",
        "normal chest x-ray",
        "Robustness",
        "Few-shot",
        "Linear probe",
        "retrieval",
    ]:
        assert s in md, s

    # independent check: the report's accuracy equals ZeroShotClassifier on the decoded shard images
    model, preprocess, tok = medclip.models.create_model_from_checkpoint(str(checkpoint))
    suite = load_suite("demo", data_root=demo_root)
    ds = suite.datasets[0]
    items = resolve_items(suite, ds)
    clf = ZeroShotClassifier(model, tok, [c.name for c in ds.classes], ["{}"], preprocess=preprocess)
    clf.class_embeddings = medclip.zeroshot_head.build_text_classifier(model, tok, class_prompts(ds))
    pred = clf.predict([read_image(s) for s in items.sources])
    assert demo["metrics"]["accuracy"] == pytest.approx(float(np.mean(pred == items.labels)))
    assert demo["metrics"]["confusion"] == np.bincount(items.labels * 17 + pred, minlength=289).reshape(17, 17).tolist()


def test_unimed21_runs_present_datasets_and_reports_missing(tmp_path, checkpoint, capsys):
    root = tmp_path / "unimed"
    write_imagefolder(root / "rsna_pneumonia", {"normal": 3, "pneumonia": 3})
    write_imagefolder(root / "PCAM", {"0": 2, "1": 4})
    out = tmp_path / "r"
    assert (
        cli(
            [
                "--suite",
                "unimed21",
                "--data-root",
                str(root),
                "--model",
                str(checkpoint),
                "--out",
                str(out),
                "--workers",
                "0",
            ]
        )
        == 0
    )
    rep = json.loads((out / "report.json").read_text())
    ok = [d["name"] for d in rep["datasets"] if d["status"] == "ok"]
    missing = {d["name"]: d["message"] for d in rep["datasets"] if d["status"] == "missing"}
    assert ok == ["rsna_pneumonia", "PCAM"] and len(missing) == 19
    assert str(root / "CT_axial") in missing["CT_axial"] and "Expected layout" in missing["CT_axial"]
    assert str(root / "chexpert-5x200" / "labels.csv") in missing["chexpert-5x200"]
    assert rep["aggregate"]["n_datasets"] == 2 and set(rep["aggregate"]["per_modality"]) == {"xray", "pathology"}
    pcam = next(d for d in rep["datasets"] if d["name"] == "PCAM")
    assert pcam["n_templates"] == 2 and pcam["n_samples"] == 6 and pcam["metric"] == "accuracy"
    printed = capsys.readouterr().out
    assert "MISSING" in printed and "acl_mri" in printed
    assert "## Missing datasets" in (out / "report.md").read_text()


def _without_progress(err: str) -> str:
    """stderr without the per-stage progress lines (``medclip-eval [  1.0s] ...``)."""
    return "\n".join(ln for ln in err.strip().splitlines() if not ln.startswith("medclip-eval ["))


@pytest.mark.parametrize(
    "argv,msg",
    [
        (["--suite", "demo2", "--model", "medclip-tiny"], "unknown suite 'demo2'"),
        (["--suite", "demo", "--model", "runs/none/latest.pt"], "model checkpoint not found"),
        (["--suite", "demo", "--model", "medclip-tiny", "--datasets", "demo_x"], "no dataset 'demo_x'"),
        (["--suite", "demo", "--model", "medclip-tinyy"], "medclip-tiny"),
    ],
)
def test_bad_input_one_line_error(tmp_path, argv, msg, capsys):
    assert cli([*argv, "--out", str(tmp_path)]) == 2
    err = _without_progress(capsys.readouterr().err)
    assert err.startswith("medclip-eval: error:") and msg in err and "\n" not in err


def test_corrupt_image_is_a_one_line_error(tmp_path, checkpoint, capsys):
    root = tmp_path / "u"
    write_imagefolder(root / "PCAM", {"0": 2, "1": 2})
    (root / "PCAM" / "1" / "img001.png").write_bytes(b"not an image")
    argv = [
        "--suite",
        "unimed21",
        "--datasets",
        "PCAM",
        "--data-root",
        str(root),
        "--model",
        str(checkpoint),
        "--out",
        str(tmp_path / "r"),
        "--workers",
        "2",
        "--batch-size",
        "2",
    ]
    assert cli(argv) == 2
    err = _without_progress(capsys.readouterr().err)
    assert "\n" not in err and "cannot decode image" in err and "img001.png" in err
