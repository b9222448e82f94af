"""Subgroup report: permutation gap test, fairness gaps by hand, and the demo's deliberate site shift."""

import numpy as np
import pytest

from data_pipelines.sources.demo import DEMO_CLASSES, render
from data_pipelines.sources.demo_attributes import SHIFTED_SITE, SITES, attributes, render_group_split
from zeroshot.stats import BootstrapConfig
from zeroshot.stats.subgroups import permutation_gap_test, rates_at_threshold, subgroup_report


def test_permutation_gap_against_a_naive_loop():
    rng = np.random.default_rng(0)
    g = rng.choice(["a", "b", "c"], 300)
    v = (rng.random(300) < np.where(g == "c", 0.6, 0.7)).astype(float)
    r = permutation_gap_test(v, g, resamples=2000, seed=1)
    means = {k: v[g == k].mean() for k in "abc"}
    assert r["groups"] == pytest.approx(means)
    assert r["gap"] == pytest.approx(max(means.values()) - min(means.values()))
    loop_rng = np.random.default_rng(5)
    count = 0
    for _ in range(2000):
        gp = loop_rng.permutation(g)
        m = [v[gp == k].mean() for k in "abc"]
        count += max(m) - min(m) >= r["gap"] - 1e-12
    assert r["p"] == pytest.approx((1 + count) / 2001, abs=0.03)


def test_fairness_gaps_by_hand():
    y = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    s = np.array([0.9, 0.2, 0.8, 0.1, 0.9, 0.8, 0.1, 0.2])
    g = np.array(["a"] * 4 + ["b"] * 4)
    assert rates_at_threshold(y[:4], s[:4], 0.5) == (0.5, 0.5)  # a: TPR 1/2, FPR 1/2
    assert rates_at_threshold(y[4:], s[4:], 0.5) == (1.0, 0.0)  # b: TPR 2/2, FPR 0/2
    r = subgroup_report(
        g, y, (s >= 0.5).astype(int), binary_score=s, threshold=0.5, min_size=2, cfg=BootstrapConfig(resamples=50)
    )
    assert r["equal_opportunity_difference"] == pytest.approx(0.5)
    assert r["equalised_odds_difference"] == pytest.approx(0.5)
    assert r["groups"]["b"]["accuracy"]["estimate"] == 1.0 and r["groups"]["a"]["n"] == 4


def test_demo_attributes_are_deterministic_and_balanced():
    a = [attributes(c, "test", i)["site"] for c in range(len(DEMO_CLASSES)) for i in range(100)]
    assert attributes(3, "test", 7) == attributes(3, "test", 7)
    counts = np.array([a.count(s) for s in SITES])
    assert counts.min() > 0.25 * len(a)
    img, attrs = render_group_split(0, index=1, size=48)
    assert img.dtype == np.uint8 and img.shape == (48, 48) and set(attrs) == {"site", "sex", "age_band"}
    # the group split has its own RNG stream: no existing split's image is reproduced
    assert not np.array_equal(img, render(0, split="test", index=1, size=48))


def _centroid_predictions(shift: bool):
    """A pixel nearest-centroid classifier fitted on the standard train split, applied to test_groups."""

    def feat(img):
        img = img.astype(float).mean(2) if img.ndim == 3 else img.astype(float)
        return img.reshape(8, 6, 8, 6).mean((1, 3)).ravel() / 255

    n_cls = len(DEMO_CLASSES)
    cent = np.stack(
        [np.mean([feat(render(c, split="train", index=i, size=48)) for i in range(20)], 0) for c in range(n_cls)]
    )
    X, y, attrs = [], [], []
    for c in range(n_cls):
        for i in range(100):
            img, a = render_group_split(c, index=i, size=48, shift=shift)
            X.append(feat(img))
            y.append(c)
            attrs.append(a)
    pred = ((np.array(X)[:, None, :] - cent[None]) ** 2).sum(2).argmin(1)
    return np.array(y), pred, attrs


def test_report_detects_the_deliberate_site_shift_and_not_the_control():
    cfg = BootstrapConfig(resamples=500)
    y, pred, attrs = _centroid_predictions(shift=True)
    r = subgroup_report([a["site"] for a in attrs], y, pred, cfg=cfg)
    accs = {k: v["accuracy"]["estimate"] for k, v in r["groups"].items()}
    assert min(accs, key=accs.get) == SHIFTED_SITE and r["accuracy_gap"]["p"] < 0.05
    assert subgroup_report([a["sex"] for a in attrs], y, pred, cfg=cfg)["accuracy_gap"]["p"] > 0.05
    y0, pred0, attrs0 = _centroid_predictions(shift=False)
    r0 = subgroup_report([a["site"] for a in attrs0], y0, pred0, cfg=cfg)
    assert r0["accuracy_gap"]["p"] > 0.05


def test_run_subgroups_reads_csv_attributes(tmp_path):
    import csv

    import yaml
    from test_zeroshot_fixtures import write_csv_dataset

    from zeroshot.subgroups import run_subgroups
    from zeroshot.suites import load_suite

    rows = [(c, c) for c in ["red", "green", "blue"] * 8]
    write_csv_dataset(tmp_path / "d", rows)
    lines = list(csv.reader(open(tmp_path / "d" / "labels.csv")))
    with open(tmp_path / "d" / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*lines[0], "site"])
        for j, row in enumerate(lines[1:]):
            w.writerow([*row, f"s{j % 2}"])
    spec = {
        "name": "sg",
        "data_root": str(tmp_path),
        "datasets": [
            {
                "name": "d",
                "modality": "other",
                "layout": "csv",
                "path": "d",
                "templates": ["{}"],
                "classes": [{"name": "red"}, {"name": "green"}, {"name": "blue"}],
            }
        ],
    }
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    suite = load_suite(tmp_path / "s.yaml")
    rng = np.random.default_rng(0)
    cos = rng.normal(size=(24, 3))
    keys = [f"images/{j:04d}.png" for j in range(24)]
    y = np.arange(24) % 3
    res = [{"name": "d", "status": "ok", "logit_scale": 1.0, "_scores": {"cosine": cos, "labels": y, "keys": keys}}]
    out = run_subgroups(suite, suite.datasets, res, ["site", "age"], cfg=BootstrapConfig(resamples=50), min_size=5)
    site, age = out["reports"]
    assert age["status"] == "skipped"
    correct = cos.argmax(1) == y
    assert site["groups"]["s0"]["accuracy"]["estimate"] == pytest.approx(correct[0::2].mean())
    assert site["groups"]["s1"]["n"] == 12 and "accuracy_gap" in site
