"""Calibration, prompt sensitivity and --compare-suite on the fixture demo suite with a tiny model."""

import argparse
import json

import numpy as np
import pytest
from test_zeroshot_cli import _one_thread, checkpoint, demo_root  # noqa: F401 (fixtures)

import medclip
from zeroshot.cli_evidence import add_evidence_args, bootstrap_config, run_evidence
from zeroshot.evaluate import EvalOptions, evaluate_suite
from zeroshot.report import build_report, write_report
from zeroshot.stats import BootstrapConfig
from zeroshot.stats.calibration import nll
from zeroshot.stats.temperature_store import load_temperature
from zeroshot.suites import load_suite


@pytest.fixture(scope="module")
def run(checkpoint, demo_root):  # noqa: F811
    model, pre, tok = medclip.models.create_model_from_checkpoint(str(checkpoint))
    suite = load_suite("demo", data_root=demo_root)
    opts = EvalOptions(batch_size=16, workers=0, cache={}, bootstrap=BootstrapConfig(resamples=200))
    results = evaluate_suite(model, tok, suite, preprocess=pre, datasets=suite.datasets, opts=opts)
    return model, pre, tok, suite, opts, results


def _args(**kw):
    p = argparse.ArgumentParser()
    add_evidence_args(p)
    a = p.parse_args([])
    a.data_root = None
    for k, v in kw.items():
        setattr(a, k, v)
    return a


def test_evidence_options_parse():
    a = _args()
    assert bootstrap_config(a) == BootstrapConfig() and a.compare is None
    assert bootstrap_config(_args(no_ci=True)) is None


def test_calibration_prompt_sensitivity_and_report(run, checkpoint, tmp_path):  # noqa: F811
    model, pre, tok, suite, opts, results = run
    info = {"id": str(checkpoint), "pretrained": str(checkpoint)}
    args = _args(calibrate=True, prompt_sensitivity=True)
    extras = run_evidence(args, suite, suite.datasets, results, model, pre, tok, "cpu", opts, info)
    cal = extras["calibration"]["datasets"][0]
    assert cal["name"] == "demo" and cal["status"] == "ok" and cal["n_val"] == 34
    t = cal["temperature"]
    assert load_temperature(checkpoint, "demo", "demo") == pytest.approx(t)
    # before / after on test are the NLLs of the saved test scores at T = 1 and at the fitted T
    demo = results[0]
    logits = demo["logit_scale"] * demo["_scores"]["cosine"]
    y = demo["_scores"]["labels"]
    assert cal["before"]["nll"] == pytest.approx(nll(logits, y))
    assert cal["after"]["nll"] == pytest.approx(nll(logits / t, y))
    assert cal["before"]["ci"]["ece"]["low"] <= cal["before"]["ece"] <= cal["before"]["ci"]["ece"]["high"]
    ps = extras["prompt_sensitivity"]["datasets"][0]
    assert [p["template"] for p in ps["per_template"]] == suite.datasets[0].templates
    assert ps["ensemble"]["estimate"] == pytest.approx(demo["metrics"]["accuracy"])  # the suite's classifier
    accs = [p["accuracy"] for p in ps["per_template"]]
    assert ps["spread"] == pytest.approx(max(accs) - min(accs))
    rep = build_report(suite={"name": "demo"}, model=info, results=results, options={}, extras=extras)
    paths = write_report(rep, tmp_path / "r")
    md = paths["markdown"].read_text()
    assert "## Calibration" in md and "## Prompt sensitivity" in md and "name only, all templates" in md
    assert (tmp_path / "r" / "reliability_calibrated.png").stat().st_size > 0
    assert np.load(tmp_path / "r" / "scores" / "demo.npz")["cosine"].shape == (34, 17)
    saved = json.loads((tmp_path / "r" / "report.json").read_text())
    assert "_scores" not in saved["datasets"][0] and saved["datasets"][0]["scores_file"] == "scores/demo.npz"


def test_compare_suite_same_prompts_is_a_tie(run, tmp_path):
    model, pre, tok, suite, opts, results = run
    args = _args(compare_suite="demo")
    extras = run_evidence(args, suite, suite.datasets, results, model, pre, tok, "cpu", opts, {"id": "m"})
    rows = extras["comparison"]["datasets"]
    assert [r["dataset"] for r in rows] == ["demo", "demo_shifted"]
    assert all(r["verdict"] == "tie" and r["mcnemar"]["b"] == r["mcnemar"]["c"] == 0 for r in rows)
