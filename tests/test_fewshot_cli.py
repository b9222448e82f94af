"""End-to-end ``medclip-fewshot`` on a tiny generated ImageFolder suite (in-process, medclip-tiny)."""

import json

import numpy as np
import pytest
from fewshot_fixtures import CLASSES, write_color_suite

from zeroshot.fewshot.cli import cli


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    root = tmp_path_factory.mktemp("fs")
    write_color_suite(root, {"train": 6, "val": 4, "test": 3}, noise=25, size=40)
    bank = {c: [f"a photo showing {c} color, variant {i}." for i in range(4)] for c in CLASSES}
    (root / "bank.json").write_text(json.dumps(bank))
    return root


FAST = [
    "optim.epochs=2",
    "optim.batch_size=4",
    "feature_views=2",
    "biomedcoop.n_prompts=3",
    "linear_probe.Cs=[1.0,0.01]",
    "linear_probe.n_bisect=1",
    "tip.grid_steps=10",
    "tip.init_alphas=[1.0]",
]


def test_fewshot_run_writes_report(suite, tmp_path):
    out = tmp_path / "rep"
    rc = cli(
        [
            "--method",
            "zeroshot",
            "coop",
            "biomedcoop",
            "tip_adapter_f",
            "linear_probe",
            "--suite",
            str(suite / "tiny.yaml"),
            "--shots",
            "1",
            "2",
            "--seeds",
            "1",
            "2",
            "--model",
            "medclip-tiny",
            "--bank",
            str(suite / "bank.json"),
            "--out",
            str(out),
            "--device",
            "cpu",
            "--set",
            *FAST,
        ]
    )
    assert rc == 0
    rep = json.loads((out / "fewshot.json").read_text())
    runs = rep["runs"]
    assert len(runs) == 1 + 4 * 2 * 2
    assert {(r["method"], r["k"], r["seed"]) for r in runs if r["method"] == "coop"} == {
        (m, k, s) for m in ["coop"] for k in (1, 2) for s in (1, 2)
    }
    r = next(r for r in runs if r["method"] == "coop" and r["k"] == 2)
    assert r["n_train"] == 6 and r["n_val"] == 6 and r["n_test"] == 9 and 0 <= r["accuracy"] <= 1
    cell = next(c for c in rep["summary"]["fewshot"] if c["method"] == "coop" and c["k"] == 2)
    accs = [100 * x["accuracy"] for x in runs if x["method"] == "coop" and x["k"] == 2]
    assert cell["accuracy"]["mean"] == pytest.approx(np.mean(accs))
    assert cell["accuracy"]["std"] == pytest.approx(np.std(accs)) and cell["accuracy"]["std_ddof"] == 0
    assert rep["meta"]["bank"]["sha256"] and rep["meta"]["configs"]["coop"]["resolved"]["optim"]["epochs"] == 2
    md = (out / "fewshot.md").read_text()
    assert "| coop |" in md and "K=2" in md and "medclip-fewshot --method" in md
    assert (out / "fewshot_curve.png").stat().st_size > 1000
    subsets = json.loads((out / "subsets" / "subsets-colors.json").read_text())
    assert {"shot_1-seed_1", "shot_2-seed_2"} <= set(subsets["subsets"])
    tip = next(r for r in runs if r["method"] == "tip_adapter_f")
    assert set(tip["info"]) >= {"best_epoch", "residual_ratio", "sharpness", "val_acc"}


def test_base_to_novel_and_errors(suite, tmp_path):
    out = tmp_path / "b2n"
    rc = cli(
        [
            "--method",
            "zeroshot",
            "cocoop",
            "--suite",
            str(suite / "tiny.yaml"),
            "--seeds",
            "1",
            "--model",
            "medclip-tiny",
            "--base-to-novel",
            "--b2n-shots",
            "2",
            "--out",
            str(out),
            "--set",
            *FAST,
        ]
    )
    assert rc == 0
    rep = json.loads((out / "fewshot.json").read_text())
    r = next(r for r in rep["runs"] if r["method"] == "cocoop")
    assert r["base_classes"] == ["red", "green"] and r["novel_classes"] == ["blue"]
    assert r["hm"] == pytest.approx(
        2 * r["base"]["accuracy"] * r["novel"]["accuracy"] / max(1e-12, r["base"]["accuracy"] + r["novel"]["accuracy"])
    )
    avg = rep["summary"]["base_to_novel_average"]
    assert {a["method"] for a in avg} == {"zeroshot", "cocoop"} and "hm_of_means" in avg[0]
    with pytest.raises(SystemExit, match="cannot classify unseen"):
        cli(
            [
                "--method",
                "tip_adapter",
                "--suite",
                str(suite / "tiny.yaml"),
                "--model",
                "medclip-tiny",
                "--base-to-novel",
                "--out",
                str(tmp_path / "x"),
            ]
        )
    with pytest.raises(SystemExit, match="unknown config key"):
        cli(
            [
                "--method",
                "coop",
                "--suite",
                str(suite / "tiny.yaml"),
                "--model",
                "medclip-tiny",
                "--out",
                str(tmp_path / "y"),
                "--set",
                "optim.epoch=3",
            ]
        )
