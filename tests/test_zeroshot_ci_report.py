"""medclip-eval reports carry bootstrap CIs: JSON bounds, recorded settings, ``83.9 [82.2, 85.6]`` cells."""

import json

import numpy as np
import pytest
from test_zeroshot_cli import _one_thread, checkpoint, demo_root  # noqa: F401 (fixtures)

from zeroshot.cli import cli


def test_demo_report_carries_cis(tmp_path, checkpoint, demo_root):  # noqa: F811
    out = tmp_path / "r"
    argv = ["--suite", "demo", "--model", str(checkpoint), "--data-root", str(demo_root), "--out", str(out)]
    assert cli([*argv, "--workers", "0", "--batch-size", "16"]) == 0
    rep = json.loads((out / "report.json").read_text())
    demo = rep["datasets"][0]
    assert demo["bootstrap"] == {"resamples": 1000, "level": 0.95, "seed": 0, "method": "percentile"}
    for k in ("accuracy", "top5", "balanced_accuracy", "macro_f1", "auc", "ece"):
        ci = demo["ci"][k]
        assert ci["low"] <= demo["metrics"][k] + 1e-12 <= ci["high"] + 2e-12, k
        assert ci["estimate"] == pytest.approx(demo["metrics"][k])
    assert demo["score_ci"] == demo["ci"]["accuracy"]
    assert demo["ci"]["auc"]["stratified"] and not demo["ci"]["accuracy"]["stratified"]
    for b in demo["breakdown"].values():
        assert b["score_ci"]["low"] <= b["score"] <= b["score_ci"]["high"]
    ret = rep["retrieval"][0]["ci"]["image_to_text"]["R@1"]
    assert ret["low"] <= rep["retrieval"][0]["image_to_text"]["R@1"] <= ret["high"]
    md = (out / "report.md").read_text()
    acc = demo["ci"]["accuracy"]
    cell = f"{100 * acc['estimate']:.1f} [{100 * acc['low']:.1f}, {100 * acc['high']:.1f}]"
    assert cell in md and "percentile bootstrap CIs over test images (1000 resamples, seed 0" in md
    r1 = rep["retrieval"][0]["image_to_text"]["R@1"]
    assert f"| {100 * r1:.1f} [{100 * ret['low']:.1f}, {100 * ret['high']:.1f}] |" in md
    png = out / "confusion_demo.png"
    assert png.stat().st_size > 0 and "confusion_demo.png" in md  # JSON keeps the counts: metrics.confusion


def test_ci_width_shrinks_with_more_images():
    """Sanity of the whole path on simulated scores: 4x the images, about half the CI width."""
    from zeroshot.stats import BootstrapConfig
    from zeroshot.stats.metric_cis import classification_cis

    widths = []
    for n in (400, 1600):
        rng = np.random.default_rng(0)
        y = rng.integers(0, 3, n)
        cos = rng.normal(size=(n, 3))
        cos[np.arange(n), y] += 1.0
        p = np.exp(cos) / np.exp(cos).sum(1, keepdims=True)
        ci = classification_cis(y, cos, p, BootstrapConfig(resamples=300), which=("accuracy",))["accuracy"]
        widths.append(ci["high"] - ci["low"])
    assert 0.35 < widths[1] / widths[0] < 0.65


def test_cli_compare_two_models_and_two_report_folders(tmp_path, checkpoint, demo_root, capsys):  # noqa: F811
    import torch

    import medclip

    torch.manual_seed(5)
    other, _, _ = medclip.create_model("medclip-tiny")
    ckpt_b = tmp_path / "b.pt"
    torch.save(
        {
            "epoch": 0,
            "step": 0,
            "name": "medclip-tiny",
            "state_dict": other.state_dict(),
            "optimizer": {},
            "scaler": {},
            "config": {},
        },
        ckpt_b,
    )
    common = ["--suite", "demo", "--data-root", str(demo_root), "--workers", "0", "--bootstrap-resamples", "200"]
    out = tmp_path / "cmp"
    assert cli([*common, "--compare", str(checkpoint), str(ckpt_b), "--out", str(out)]) == 0
    cmp = json.loads((out / "comparison.json").read_text())
    assert [r["dataset"] for r in cmp["datasets"]] == ["demo", "demo_shifted"]
    assert cmp["bootstrap"]["resamples"] == 200 and cmp["correction"] == "holm"
    assert all(r["verdict"] in ("better", "tie", "worse") and r["test"] == "McNemar exact" for r in cmp["datasets"])
    assert "Head-to-head" in (out / "comparison.md").read_text()
    # the same comparison from two report folders (saved scores, no model needed)
    for name, ck in (("ra", checkpoint), ("rb", ckpt_b)):
        assert cli([*common, "--model", str(ck), "--out", str(tmp_path / name), "--calibrate"]) == 0
    from zeroshot.stats.temperature_store import load_temperature

    assert load_temperature(ckpt_b, "demo", "demo", None) is not None  # saved beside b.pt by --calibrate
    out2 = tmp_path / "cmp2"
    assert cli([*common, "--compare", str(tmp_path / "ra"), str(tmp_path / "rb"), "--out", str(out2)]) == 0
    cmp2 = json.loads((out2 / "comparison.json").read_text())
    for r1, r2 in zip(cmp["datasets"], cmp2["datasets"]):
        assert r1["mcnemar"] == r2["mcnemar"] and r1["bootstrap"]["diff"] == r2["bootstrap"]["diff"]
    assert "p_holm" in capsys.readouterr().out
