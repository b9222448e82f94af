"""Few-shot records carry per-image ``correct`` (and ``test_index`` on a test subset), so the report pairs
every method with zero-shot image by image (in-process ``medclip-fewshot`` on a tiny suite, medclip-tiny)."""

import json

import numpy as np
import pytest
from fewshot_fixtures import write_color_suite

from zeroshot.fewshot.cli import cli

FAST = ["linear_probe.Cs=[1.0,0.01]", "linear_probe.n_bisect=1", "feature_views=1"]


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    root = tmp_path_factory.mktemp("fs_paired")
    write_color_suite(root, {"train": 4, "val": 3, "test": 4}, noise=60, size=32)
    return root


def _run(suite, out, *extra, shots=("1", "2")):
    argv = ["--method", "zeroshot", "linear_probe", "--suite", str(suite / "tiny.yaml"), "--shots", *shots]
    argv += ["--seeds", "1", "2", "--model", "medclip-tiny", "--out", str(out), "--device", "cpu", "--quiet"]
    assert cli([*argv, *FAST, *extra]) == 0
    return json.loads((out / "fewshot.json").read_text())


def test_records_carry_correct_and_report_pairs_with_zeroshot(suite, tmp_path):
    rep = _run(suite, tmp_path / "full")
    runs = rep["runs"]
    zs = next(r for r in runs if r["method"] == "zeroshot")
    assert len(zs["correct"]) == 12 and set(zs["correct"]) <= {0, 1}
    assert np.mean(zs["correct"]) == pytest.approx(zs["accuracy"])
    lp = [r for r in runs if r["method"] == "linear_probe"]
    assert len(lp) == 4
    for r in lp:
        assert len(r["correct"]) == r["n_test"] == 12 and "test_index" not in r
        assert np.mean(r["correct"]) == pytest.approx(r["accuracy"])
    rows = rep["summary"]["vs_zeroshot"]
    assert sorted((row["method"], row["k"]) for row in rows) == [("linear_probe", 1), ("linear_probe", 2)]
    for row in rows:
        mine = [r for r in lp if r["k"] == row["k"]]
        assert row["n"] == 12 and sorted(row["seeds"]) == [1, 2]
        # pooled over seeds: every image counted once per seed, so the pooled accuracy is the seeds' mean
        assert row["method_acc"] == pytest.approx(np.mean([r["accuracy"] for r in mine]))
        assert row["zeroshot_acc"] == pytest.approx(zs["accuracy"])
        assert row["diff"]["estimate"] == pytest.approx(row["method_acc"] - row["zeroshot_acc"])
        assert row["verdict"] in {"better", "tie", "worse"} and 0 <= row["p_holm"] <= 1
    md = (tmp_path / "full" / "fewshot.md").read_text()
    assert "## Against zero-shot" in md and "| colors | 2 | linear_probe | 2 | 12 |" in md


def test_test_subset_is_paired_through_test_index(suite, tmp_path):
    rep = _run(suite, tmp_path / "sub", "test_per_class=2", shots=("2",))
    runs = rep["runs"]
    zs = next(r for r in runs if r["method"] == "zeroshot")
    lp = [r for r in runs if r["method"] == "linear_probe"]
    labels = np.repeat(np.arange(3), 4)  # imagefolder test split: classes in order, 4 images each
    for r in lp:
        idx = np.asarray(r["test_index"])
        assert len(idx) == len(r["correct"]) == r["n_test"] == 6
        assert np.array_equal(np.bincount(labels[idx], minlength=3), [2, 2, 2])
        # the subset's zero-shot accuracy, computed separately by the runner, matches the full-split
        # zero-shot predictions picked at test_index
        assert np.mean(np.asarray(zs["correct"])[idx]) == pytest.approx(r["zeroshot_accuracy_same_test"])
    for row in rep["summary"]["vs_zeroshot"]:
        assert row["n"] == 6
        assert row["zeroshot_acc"] == pytest.approx(lp[0]["zeroshot_accuracy_same_test"])
