"""Head-to-head comparison of two runs and the seed-pooled few-shot comparison, on simulated scores."""

import numpy as np
import pytest

from zeroshot.compare import compare_markdown, compare_runs
from zeroshot.stats import BootstrapConfig, mcnemar_exact
from zeroshot.stats.pooled import compare_pooled


def _run(name, y, cos, metric="accuracy", keys=None):
    keys = keys if keys is not None else [f"k{i}" for i in range(len(y))]
    return {
        "name": name,
        "status": "ok",
        "metric": metric,
        "logit_scale": 10.0,
        "_scores": {"cosine": cos, "labels": y, "keys": keys},
    }


def _scores(y, c, strength, rng):
    cos = rng.normal(size=(len(y), c))
    cos[np.arange(len(y)), y] += strength
    return cos


def test_compare_finds_the_better_model_and_ties_on_noise():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 600)
    strong, weak = _scores(y, 4, 2.5, rng), _scores(y, 4, 0.8, rng)
    twin = strong + rng.normal(scale=1e-3, size=strong.shape)  # same predictions up to noise
    yb = rng.integers(0, 2, 600)
    sb, wb = _scores(yb, 2, 2.0, rng), _scores(yb, 2, 0.3, rng)
    a = [_run("d1", y, strong), _run("d2", y, strong), _run("bin", yb, sb, metric="auc")]
    b = [_run("d1", y, weak), _run("d2", y, twin), _run("bin", yb, wb, metric="auc")]
    cmp = compare_runs(a, b, BootstrapConfig(resamples=300))
    rows = {r["dataset"]: r for r in cmp["datasets"]}
    assert rows["d1"]["verdict"] == "better" and rows["d1"]["test"] == "McNemar exact"
    assert rows["d1"]["p"] == mcnemar_exact(strong.argmax(1) == y, weak.argmax(1) == y)["p"]
    assert rows["d2"]["verdict"] == "tie"
    assert rows["bin"]["test"] == "DeLong" and rows["bin"]["verdict"] == "better"
    ps = sorted(r["p"] for r in cmp["datasets"])
    assert min(r["p_holm"] for r in cmp["datasets"]) == pytest.approx(min(1.0, 3 * ps[0]))
    assert cmp["datasets"][0]["bootstrap"]["diff"]["low"] > 0
    md = "\n".join(compare_markdown(cmp, "strong", "weak"))
    assert "| d1 | accuracy | 600 |" in md and "**better**" in md and "**tie**" in md
    # swapping A and B swaps the verdict
    rev = {r["dataset"]: r["verdict"] for r in compare_runs(b, a, BootstrapConfig(resamples=300))["datasets"]}
    assert rev["d1"] == "worse" and rev["bin"] == "worse"


def test_compare_matches_images_by_key_and_rejects_label_mismatch():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 50)
    cos = _scores(y, 3, 1.0, rng)
    perm = rng.permutation(50)
    a = [_run("d", y, cos)]
    b = [_run("d", y[perm], cos[perm], keys=[f"k{i}" for i in perm])]
    row = compare_runs(a, b, BootstrapConfig(resamples=50))["datasets"][0]
    assert row["mcnemar"]["b"] == 0 and row["mcnemar"]["c"] == 0 and row["p"] == 1.0
    bad = [_run("d", (y + 1) % 3, cos)]
    with pytest.raises(ValueError, match="labels differ"):
        compare_runs(a, bad)
    with pytest.raises(ValueError, match="no evaluated dataset in common"):
        compare_runs(a, [_run("other", y, cos)])


def test_pooled_seeds_resample_images_not_seeds():
    rng = np.random.default_rng(0)
    n = 500
    base = (rng.random(n) < 0.6).astype(float)
    seeds = np.stack([np.maximum(base, rng.random(n) < 0.2) for _ in range(3)]).astype(float)
    r = compare_pooled(seeds, base, BootstrapConfig(resamples=400))
    assert r["diff"]["estimate"] == pytest.approx(seeds.mean() - base.mean())
    assert r["seeds"] == pytest.approx(seeds.mean(1).tolist()) and r["n"] == n
    assert r["diff"]["low"] > 0 and r["p"] < 0.01
    # independent check: the same paired bootstrap written as an explicit loop over image resamples
    rng2 = np.random.default_rng(7)
    loop = []
    for _ in range(400):
        idx = rng2.integers(0, n, n)
        loop.append(seeds[:, idx].mean() - base[idx].mean())
    assert np.std(loop) == pytest.approx((r["diff"]["high"] - r["diff"]["low"]) / 3.92, rel=0.2)
    with pytest.raises(ValueError, match="same images"):
        compare_pooled(seeds, base[:10])


def test_fewshot_records_against_zeroshot_and_the_report_hook(tmp_path):
    from zeroshot.fewshot.report import markdown, summarize
    from zeroshot.stats.fewshot_compare import compare_to_zeroshot

    rng = np.random.default_rng(0)
    n = 300
    zs = (rng.random(n) < 0.6).astype(int)
    recs = [
        {
            "setting": "fewshot",
            "dataset": "d",
            "method": "zeroshot",
            "k": 0,
            "seed": 0,
            "accuracy": zs.mean(),
            "error": 0,
            "macro_f1": 0,
            "correct": zs.tolist(),
        }
    ]
    for seed in (1, 2, 3):
        good = np.maximum(zs, rng.random(n) < 0.3).astype(int)  # zero-shot plus extra hits
        same = np.where(rng.random(n) < 0.05, 1 - zs, zs)  # zero-shot up to a few random flips
        for m, c in (("good", good), ("same", same)):
            recs.append(
                {
                    "setting": "fewshot",
                    "dataset": "d",
                    "method": m,
                    "k": 4,
                    "seed": seed,
                    "accuracy": c.mean(),
                    "error": 0,
                    "macro_f1": 0,
                    "correct": c.tolist(),
                }
            )
    sub = [5, 7, 9, 11] * 10
    recs.append(
        {
            "setting": "fewshot",
            "dataset": "d",
            "method": "sub",
            "k": 4,
            "seed": 1,
            "accuracy": 0,
            "error": 0,
            "macro_f1": 0,
            "correct": zs[sub].tolist(),
            "test_index": sub,
        }
    )
    rows = {r["method"]: r for r in compare_to_zeroshot(recs, BootstrapConfig(resamples=300))}
    assert rows["good"]["verdict"] == "better" and rows["same"]["verdict"] == "tie"
    assert rows["sub"]["diff"]["estimate"] == 0.0 and rows["sub"]["n"] == 40
    good = np.array([r["correct"] for r in recs if r["method"] == "good"])
    assert rows["good"]["diff"]["estimate"] == pytest.approx(good.mean() - zs.mean())
    assert rows["good"]["seed_accuracies"] == pytest.approx(good.mean(1).tolist())
    assert rows["good"]["p"] == min(r["p"] for r in rows.values())  # smallest of the 3 at (d, K=4)
    assert rows["good"]["p_holm"] == pytest.approx(min(1.0, 3 * rows["good"]["p"]))
    s = summarize(recs)
    assert len(s["vs_zeroshot"]) == 3
    assert "Against zero-shot" in markdown(s) and "**better**" in markdown(s)
    assert summarize([r for r in recs if r["method"] != "zeroshot"])["vs_zeroshot"] == []
