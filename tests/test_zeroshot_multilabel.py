"""CheXpert-style protocol statistics against scikit-learn and hand-counted tables."""

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score, matthews_corrcoef
from sklearn.metrics import roc_curve as sk_roc

from zeroshot.stats.multilabel import (
    binary_metrics,
    pos_neg_scores,
    roc_curve,
    sensitivity_at_specificity,
    sensitivity_threshold,
    youden_threshold,
)


def _data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    return y, np.round(y * 1.2 + rng.normal(size=n), 1)


def test_roc_matches_sklearn():
    y, s = _data()
    r = roc_curve(y, s)
    fpr, tpr, thr = sk_roc(y, s, drop_intermediate=False)
    np.testing.assert_allclose(r["fpr"], fpr)
    np.testing.assert_allclose(r["tpr"], tpr)
    np.testing.assert_allclose(r["thresholds"][1:], thr[1:])


def test_thresholds_and_metrics_against_brute_force():
    y, s = _data()
    cands = np.unique(s)
    j = [np.mean(s[y == 1] >= t) - np.mean(s[y == 0] >= t) for t in cands]
    assert youden_threshold(y, s) == pytest.approx(cands[int(np.argmax(j))])
    t = sensitivity_threshold(y, s, 0.9)
    assert np.mean(s[y == 1] >= t) >= 0.9
    assert all(np.mean(s[y == 1] >= c) < 0.9 for c in cands if c > t)
    m = binary_metrics(y, s, t)
    pred = (s >= t).astype(int)
    assert m["f1"] == pytest.approx(f1_score(y, pred)) and m["mcc"] == pytest.approx(matthews_corrcoef(y, pred))
    assert m["tp"] + m["fn"] == y.sum() and m["specificity"] == pytest.approx(np.mean(pred[y == 0] == 0))
    sens = sensitivity_at_specificity(y, s, 0.8)
    brute = max(np.mean(s[y == 1] >= c) for c in [*cands, math.inf] if np.mean(s[y == 0] < c) >= 0.8)
    assert sens == pytest.approx(brute)
    with pytest.raises(ValueError, match="target sensitivity"):
        sensitivity_threshold(y, s, 0.0)


def test_pos_neg_softmax_by_hand():
    p = pos_neg_scores(np.array([[0.3]]), np.array([[0.1]]), 10.0)
    assert p[0, 0] == pytest.approx(math.exp(3) / (math.exp(3) + math.exp(1)))
