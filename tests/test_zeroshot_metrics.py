"""zeroshot.metrics and retrieval recall against scikit-learn / naive loops on fixed inputs."""

import numpy as np
import pytest
from sklearn import metrics as skm

from zeroshot.metrics import (
    auc,
    balanced_accuracy,
    binary_auc,
    classification_metrics,
    macro_f1,
    multilabel_auc,
    reliability,
    topk_accuracy,
)
from zeroshot.retrieval import recall_at_k


@pytest.fixture
def multiclass():
    rng = np.random.default_rng(123)
    n, c = 200, 7
    y = rng.integers(0, c, size=n)
    scores = rng.normal(size=(n, c)) + 1.5 * np.eye(c)[y]  # informative but imperfect
    scores[:5] = np.round(scores[:5], 1)  # a few ties
    probs = np.exp(scores) / np.exp(scores).sum(1, keepdims=True)
    return y, scores, probs


def test_topk_balanced_f1_match_sklearn(multiclass):
    y, s, _ = multiclass
    pred = s.argmax(1)
    labels = np.arange(s.shape[1])
    assert topk_accuracy(y, s, 1) == pytest.approx(skm.accuracy_score(y, pred))
    assert topk_accuracy(y, s, 5) == pytest.approx(skm.top_k_accuracy_score(y, s, k=5, labels=labels))
    assert topk_accuracy(y, s[:, :3] * 0 + s[:, :3], 5) == 1.0  # k capped at C
    assert balanced_accuracy(y, pred, 7) == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert macro_f1(y, pred, 7) == pytest.approx(skm.f1_score(y, pred, average="macro"))


def test_f1_with_class_never_predicted_or_absent():
    y = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 0, 0, 1, 0, 3])  # class 2 never predicted, class 3 predicted but absent
    assert macro_f1(y, pred, 4) == pytest.approx(skm.f1_score(y, pred, average="macro", zero_division=0))
    assert balanced_accuracy(y, pred, 4) == pytest.approx(skm.balanced_accuracy_score(y, pred))


def test_auc_binary_and_ovr_match_sklearn(multiclass):
    y, s, p = multiclass
    assert auc(y, p) == pytest.approx(skm.roc_auc_score(y, p, multi_class="ovr", average="macro"))
    yb = (y % 2).astype(int)
    sb = np.stack([s[:, 0], s[:, 1]], 1)
    assert auc(yb, sb) == pytest.approx(skm.roc_auc_score(yb, sb[:, 1] - sb[:, 0]))
    ties = np.array([0.1, 0.1, 0.1, 0.5, 0.5, 0.9])
    yt = np.array([0, 1, 0, 1, 0, 1])
    assert binary_auc(yt, ties) == pytest.approx(skm.roc_auc_score(yt, ties))
    assert np.isnan(binary_auc(np.ones(4), np.arange(4.0)))


def test_multilabel_auc_per_label():
    rng = np.random.default_rng(5)
    y = (rng.random((80, 4)) < 0.4).astype(int)
    s = rng.normal(size=(80, 4)) + y
    mean, per = multilabel_auc(y, s)
    ref = [skm.roc_auc_score(y[:, c], s[:, c]) for c in range(4)]
    assert per == pytest.approx(ref)
    assert mean == pytest.approx(skm.roc_auc_score(y, s, average="macro"))


def test_ece_matches_naive_loop(multiclass):
    y, _, p = multiclass
    n_bins = 15
    conf, pred = p.max(1), p.argmax(1)
    ece = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        in_bin = [i for i in range(len(y)) if lo < conf[i] <= hi]
        if in_bin:
            acc = np.mean([pred[i] == y[i] for i in in_bin])
            avg_conf = np.mean([conf[i] for i in in_bin])
            ece += len(in_bin) / len(y) * abs(acc - avg_conf)
    rel = reliability(y, p, n_bins)
    assert rel["ece"] == pytest.approx(ece, abs=1e-12)
    assert sum(rel["bin_count"]) == len(y)
    perfect = np.eye(3)[[0, 1, 2, 0]]
    assert reliability(np.array([0, 1, 2, 0]), perfect)["ece"] == pytest.approx(0.0)


def test_classification_metrics_bundle(multiclass):
    y, s, p = multiclass
    m = classification_metrics(y, s, p)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, s.argmax(1)))
    assert np.array_equal(np.array(m["confusion"]), skm.confusion_matrix(y, s.argmax(1), labels=range(7)))
    assert m["per_class_accuracy"] == pytest.approx(list(skm.recall_score(y, s.argmax(1), average=None)))


def test_recall_at_k_against_naive_ranks():
    rng = np.random.default_rng(0)
    n_img, owner = 30, np.repeat(np.arange(30), 2)[:50]  # some images own 2 texts, some none
    sim = rng.normal(size=(n_img, len(owner)))
    sim[owner, np.arange(len(owner))] += 1.0
    res = recall_at_k(sim, owner)
    for k in (1, 5, 10):
        t2i = np.mean([(sim[:, t] > sim[owner[t], t]).sum() < k for t in range(len(owner))])
        hits = []
        for i in range(n_img):
            own = np.flatnonzero(owner == i)
            if len(own) == 0:
                hits.append(False)
                continue
            hits.append(min((sim[i] > sim[i, t]).sum() for t in own) < k)
        assert res["text_to_image"][f"R@{k}"] == pytest.approx(t2i)
        assert res["image_to_text"][f"R@{k}"] == pytest.approx(np.mean(hits))
