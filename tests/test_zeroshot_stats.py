"""zeroshot.stats against independent computations: plain metrics, sklearn, scipy, naive loops, hand values."""

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from zeroshot import metrics
from zeroshot.stats import BootstrapConfig, bootstrap_ci, delong_auc_variance, delong_test, holm, mcnemar_exact
from zeroshot.stats import wmetrics as wm
from zeroshot.stats.metric_cis import classification_cis
from zeroshot.stats.multiple import verdict
from zeroshot.stats.paired import binom_cdf_half, paired_bootstrap
from zeroshot.stats.weights import draw_counts


def _data(n=300, c=4, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    cos = rng.normal(size=(n, c))
    cos[np.arange(n), y] += 1.0
    cos = np.round(cos, 1)  # ties on purpose
    e = np.exp(3 * cos)
    return y, cos, e / e.sum(1, keepdims=True)


def test_weighted_metrics_equal_plain_metrics_on_unit_weights():
    y, cos, probs = _data()
    one = np.ones((1, len(y)))
    pred = cos.argmax(1)
    assert wm.mean(one, pred == y)[0] == pytest.approx(np.mean(pred == y))
    assert wm.balanced_accuracy(one, y, pred, 4)[0] == pytest.approx(metrics.balanced_accuracy(y, pred, 4))
    assert wm.macro_f1(one, y, pred, 4)[0] == pytest.approx(metrics.macro_f1(y, pred, 4))
    assert wm.auc(one, y, probs)[0] == pytest.approx(roc_auc_score(y, probs, multi_class="ovr"))
    assert wm.ece(one, y, probs)[0] == pytest.approx(metrics.reliability(y, probs)["ece"])
    assert wm.topk_correct(y, cos, 2).mean() == pytest.approx(metrics.topk_accuracy(y, cos, 2))
    yb = (y == 1).astype(int)
    assert wm.binary_auc(one, yb, cos[:, 1])[0] == pytest.approx(roc_auc_score(yb, cos[:, 1]))
    Y = np.stack([y == 0, y == 1, (y == 2) | (y == 3)], 1).astype(int)
    assert wm.multilabel_auc(one, Y, cos[:, :3])[0] == pytest.approx(metrics.multilabel_auc(Y, cos[:, :3])[0])


def test_weighted_metrics_equal_metrics_on_materialised_resamples():
    y, cos, probs = _data(n=120)
    rng = np.random.default_rng(1)
    W = draw_counts(rng, len(y), 5, strata=y)
    pred = cos.argmax(1)
    for b in range(5):
        idx = np.repeat(np.arange(len(y)), W[b].astype(int))
        assert np.bincount(y[idx], minlength=4).tolist() == np.bincount(y, minlength=4).tolist()  # stratified
        assert wm.macro_f1(W[b : b + 1], y, pred, 4)[0] == pytest.approx(metrics.macro_f1(y[idx], pred[idx], 4))
        assert wm.auc(W[b : b + 1], y, probs)[0] == pytest.approx(roc_auc_score(y[idx], probs[idx], multi_class="ovr"))
        assert wm.ece(W[b : b + 1], y, probs)[0] == pytest.approx(metrics.reliability(y[idx], probs[idx])["ece"])


def test_bootstrap_coverage_on_bernoulli_data():
    """The 95% percentile CI of a Bernoulli mean holds the true p in about 95% of simulated test sets."""
    rng = np.random.default_rng(0)
    p, n, reps = 0.8, 200, 300
    hits = 0
    for r in range(reps):
        x = (rng.random(n) < p).astype(float)
        ci = bootstrap_ci(lambda w, x=x: wm.mean(w, x), n, BootstrapConfig(resamples=400, seed=r))
        hits += ci["low"] <= p <= ci["high"]
    assert 0.91 <= hits / reps <= 0.98


def test_bootstrap_is_seeded_and_recorded():
    x = np.random.default_rng(0).random(50)
    a = bootstrap_ci(lambda w: wm.mean(w, x), 50, BootstrapConfig(resamples=200, seed=3))
    b = bootstrap_ci(lambda w: wm.mean(w, x), 50, BootstrapConfig(resamples=200, seed=3))
    c = bootstrap_ci(lambda w: wm.mean(w, x), 50, BootstrapConfig(resamples=200, seed=4))
    assert a == b and a != c and a["level"] == 0.95
    assert a["low"] < a["estimate"] < a["high"]
    with pytest.raises(ValueError, match="resamples"):
        BootstrapConfig(resamples=0)


def test_classification_cis_bracket_the_estimates():
    y, cos, probs = _data()
    cis = classification_cis(y, cos, probs, BootstrapConfig(resamples=200))
    m = metrics.classification_metrics(y, cos, probs)
    for k in ("accuracy", "top5", "balanced_accuracy", "macro_f1", "auc", "ece"):
        assert cis[k]["estimate"] == pytest.approx(m[k])
        assert cis[k]["low"] <= m[k] + 1e-12 and m[k] <= cis[k]["high"] + 1e-12
    assert cis["auc"]["stratified"] and not cis["accuracy"]["stratified"]


def test_mcnemar_against_exact_binomial():
    rng = np.random.default_rng(0)
    a = rng.random(200) < 0.7
    b = rng.random(200) < 0.6
    r = mcnemar_exact(a, b)
    assert r["b"] == int(np.sum(a & ~b)) and r["c"] == int(np.sum(~a & b))
    k, n = min(r["b"], r["c"]), r["b"] + r["c"]
    try:
        from scipy.stats import binomtest

        expected = binomtest(k, n, 0.5).pvalue
    except ImportError:  # pragma: no cover
        expected = min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)
    assert r["p"] == pytest.approx(expected, rel=1e-9)
    assert binom_cdf_half(2, 4) == pytest.approx(11 / 16)  # (1 + 4 + 6) / 16 by hand
    assert mcnemar_exact(a, a)["p"] == 1.0


def _naive_auc_components(y, s):
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    return psi.mean(), psi.mean(1), psi.mean(0)


def test_delong_against_naive_quadratic_and_sklearn():
    rng = np.random.default_rng(2)
    y = (rng.random(150) < 0.4).astype(int)
    sa = np.round(y + rng.normal(size=150), 1)
    sb = np.round(0.5 * y + rng.normal(size=150), 1)
    aucs, cov = delong_auc_variance(y, np.stack([sa, sb]))
    m, n = y.sum(), (1 - y).sum()
    comps = [_naive_auc_components(y, s) for s in (sa, sb)]
    v10 = np.stack([c[1] for c in comps])
    v01 = np.stack([c[2] for c in comps])
    naive_cov = np.cov(v10) / m + np.cov(v01) / n
    assert aucs == pytest.approx([comps[0][0], comps[1][0]])
    assert aucs == pytest.approx([roc_auc_score(y, sa), roc_auc_score(y, sb)])
    np.testing.assert_allclose(cov, naive_cov, rtol=1e-10)
    t = delong_test(y, sa, sb)
    z = (aucs[0] - aucs[1]) / math.sqrt(naive_cov[0, 0] + naive_cov[1, 1] - 2 * naive_cov[0, 1])
    assert t["z"] == pytest.approx(z)
    assert t["p"] == pytest.approx(math.erfc(abs(z) / math.sqrt(2)))
    assert t["low"] < t["diff"] < t["high"]
    assert delong_test(y, sa, sa)["p"] == 1.0


def test_holm_hand_example():
    # sorted 0.01, 0.02, 0.03, 0.04 with m = 4: 0.04, 0.06, 0.06 (monotone), 0.06
    assert holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm([0.5, 0.4]) == pytest.approx([0.8, 0.8])
    out = holm([0.01, None, 0.2])
    assert out[0] == pytest.approx(0.02) and math.isnan(out[1]) and out[2] == pytest.approx(0.2)
    assert verdict(0.02, 0.01) == "better" and verdict(-0.02, 0.01) == "worse" and verdict(0.02, 0.2) == "tie"


def test_paired_bootstrap_detects_a_real_difference_and_not_a_null_one():
    rng = np.random.default_rng(0)
    n = 400
    a = (rng.random(n) < 0.8).astype(float)
    better = np.maximum(a, (rng.random(n) < 0.3).astype(float))  # A plus extra hits
    r = paired_bootstrap(lambda w: wm.mean(w, better), lambda w: wm.mean(w, a), n, BootstrapConfig(resamples=500))
    assert r["diff"]["estimate"] == pytest.approx(better.mean() - a.mean())
    assert r["diff"]["low"] > 0 and r["p"] < 0.01
    same = a[rng.permutation(n)]
    r0 = paired_bootstrap(lambda w: wm.mean(w, same), lambda w: wm.mean(w, same), n, BootstrapConfig(resamples=200))
    assert r0["p"] == 1.0 and r0["diff"]["estimate"] == 0.0


def test_auc_pair_matrix_and_sort_paths_agree(monkeypatch):
    y, cos, _ = _data(n=200, c=2)
    W = draw_counts(np.random.default_rng(0), 200, 20)
    pair = wm.binary_auc(W, y, cos[:, 1])
    monkeypatch.setattr(wm, "PAIR_MATRIX_MAX", 0)
    sort = wm.binary_auc(W, y, cos[:, 1])
    np.testing.assert_allclose(pair, sort, rtol=1e-12)
    assert sort[0] == pytest.approx(roc_auc_score(y, cos[:, 1], sample_weight=W[0]))
