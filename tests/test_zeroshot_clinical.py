"""Clinical multi-label protocol end to end on a CSV fixture, checked against sklearn and the stats helpers."""

import argparse

import numpy as np
import pytest
import yaml
from sklearn.metrics import roc_auc_score
from test_zeroshot_cli import _one_thread, checkpoint  # noqa: F401 (fixtures)
from test_zeroshot_fixtures import write_csv_dataset

import medclip
from zeroshot.cli_evidence import add_evidence_args, run_evidence
from zeroshot.clinical import label_scores
from zeroshot.evaluate import EvalOptions, evaluate_suite
from zeroshot.report import build_report, write_report
from zeroshot.stats import BootstrapConfig
from zeroshot.stats.multilabel import binary_metrics, youden_threshold
from zeroshot.suites import load_suite

COLOURS = ["red", "green", "blue"]


def _suite(tmp_path, scoring):
    rng = np.random.default_rng(0)
    for split, n in (("test", 30), ("val", 24)):
        rows = []
        for j in range(n):
            c = COLOURS[j % 3]
            labs = ["finding a"] if c == "red" or rng.random() < 0.2 else []
            labs += ["finding b"] if c != "blue" else []
            rows.append((c, "|".join(labs) or "none"))
        write_csv_dataset(tmp_path / split, rows, seed=len(split))
    spec = {
        "name": "clin",
        "data_root": str(tmp_path),
        "datasets": [
            {
                "name": "cx",
                "modality": "xray",
                "layout": "csv",
                "path": "test",
                "multilabel": True,
                "metric": "multilabel_auc",
                "templates": ["a photo of {}.", "{}"],
                "probe_val": "val",
                "label_set": ["finding a"],
                "label_scoring": scoring,
                "negative_templates": ["no {}."],
                "classes": [{"name": "finding a"}, {"name": "finding b"}, {"name": "none"}],
            }
        ],
    }
    path = tmp_path / "clin.yaml"
    path.write_text(yaml.safe_dump(spec))
    return load_suite(path)


@pytest.mark.parametrize("scoring", ["cosine", "pos_neg"])
def test_clinical_protocol(tmp_path, checkpoint, scoring):  # noqa: F811
    model, pre, tok = medclip.models.create_model_from_checkpoint(str(checkpoint))
    suite = _suite(tmp_path, scoring)
    opts = EvalOptions(batch_size=16, workers=0, cache={}, bootstrap=BootstrapConfig(resamples=100))
    results = evaluate_suite(model, tok, suite, preprocess=pre, datasets=suite.datasets, opts=opts)
    p = argparse.ArgumentParser()
    add_evidence_args(p)
    args = p.parse_args(["--clinical"])
    args.data_root = None
    cl = run_evidence(args, suite, suite.datasets, results, model, pre, tok, "cpu", opts, {"id": "m"})["clinical"]
    d = cl["datasets"][0]
    ds = suite.datasets[0]
    from zeroshot.data import resolve_items

    test, val = resolve_items(suite, ds), resolve_items(suite, ds, "val")
    scale = results[0]["logit_scale"]
    s_test = label_scores(model, tok, pre, ds, test, device="cpu", opts=opts, scale=scale)
    s_val = label_scores(model, tok, pre, ds, val, device="cpu", opts=opts, scale=scale)
    if scoring == "cosine":
        np.testing.assert_allclose(s_test, results[0]["_scores"]["cosine"], rtol=1e-5, atol=1e-6)
    else:
        assert ((s_test > 0) & (s_test < 1)).all()
    a = d["labels"][0]
    assert a["auc"]["estimate"] == pytest.approx(roc_auc_score(test.labels[:, 0], s_test[:, 0]))
    assert d["mean_auc"]["estimate"] == pytest.approx(a["auc"]["estimate"])  # label_set = [finding a]
    t = youden_threshold(val.labels[:, 0], s_val[:, 0])
    assert a["at_threshold"] == binary_metrics(test.labels[:, 0], s_test[:, 0], t)
    assert d["n_val"] == 24 and d["scoring"] == scoring
    rep = build_report(suite={"name": "clin"}, model={"id": "m"}, results=results, options={}, extras={"clinical": cl})
    paths = write_report(rep, tmp_path / "r")
    assert "Clinical multi-label protocol: cx" in paths["markdown"].read_text()
    assert (tmp_path / "r" / "roc_cx.png").stat().st_size > 0
