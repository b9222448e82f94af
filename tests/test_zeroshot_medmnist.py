"""MedMNIST+ suite on generated .npz files with the real key layout; metrics against medmnist's formulas."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score
from test_zeroshot_cli import _one_thread, checkpoint  # noqa: F401 (fixtures)

import medclip
from zeroshot.data import read_image, resolve_items
from zeroshot.evaluate import EvalOptions, evaluate_suite
from zeroshot.npz_layout import npz_file
from zeroshot.stats import BootstrapConfig
from zeroshot.stats.medmnist_metrics import medmnist_metrics
from zeroshot.suites import load_suite, select


def _write(path, n_classes, rgb, size, multilabel=False, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", 12), ("val", 8), ("test", 20)):
        shape = (n, size, size, 3) if rgb else (n, size, size)
        arrays[f"{split}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
        if multilabel:
            arrays[f"{split}_labels"] = (rng.random((n, n_classes)) < 0.3).astype(np.uint8)
        else:
            arrays[f"{split}_labels"] = (np.arange(n) % n_classes).reshape(n, 1).astype(np.uint8)
    np.savez_compressed(path, **arrays)
    return arrays


def test_file_naming_follows_medmnist_plus(tmp_path):
    assert npz_file(tmp_path, "pathmnist{size}.npz", 28) == tmp_path / "pathmnist.npz"
    assert npz_file(tmp_path, "pathmnist{size}.npz", 224) == tmp_path / "pathmnist_224.npz"


def test_suite_reads_npz_reports_missing_and_computes_benchmark_metrics(tmp_path, checkpoint):  # noqa: F811
    path = _write(tmp_path / "pathmnist_64.npz", 9, True, 64)
    _write(tmp_path / "chestmnist_64.npz", 14, False, 64, multilabel=True, seed=1)
    _write(tmp_path / "breastmnist_64.npz", 2, False, 64, seed=2)
    suite = load_suite("medmnist", data_root=tmp_path)
    suite.npz_size = 64
    items = resolve_items(suite, select(suite, ["pathmnist"])[0])
    assert len(items) == 20 and items.labels.tolist() == (np.arange(20) % 9).tolist()
    assert np.array_equal(np.asarray(read_image(items.sources[3])), path["test_images"][3])
    val = resolve_items(suite, select(suite, ["pathmnist"])[0], "val")
    assert len(val) == 8
    gray = resolve_items(suite, select(suite, ["breastmnist"])[0])
    img = np.asarray(read_image(gray.sources[0]))
    assert img.shape == (64, 64, 3) and (img[..., 0] == img[..., 2]).all()
    model, pre, tok = medclip.models.create_model_from_checkpoint(str(checkpoint))
    opts = EvalOptions(batch_size=16, workers=0, cache={}, bootstrap=BootstrapConfig(resamples=100))
    res = {r["name"]: r for r in evaluate_suite(model, tok, suite, preprocess=pre, opts=opts)}
    assert res["dermamnist"]["status"] == "missing"
    assert str(tmp_path / "dermamnist_64.npz") in res["dermamnist"]["message"]
    p = res["pathmnist"]
    assert p["medmnist"]["task"] == "multi-class"
    assert p["medmnist"]["acc"] == pytest.approx(p["metrics"]["accuracy"])
    c = res["chestmnist"]
    assert c["medmnist"]["task"] == "multi-label, binary-class" and "ci" in c["medmnist"]
    b = res["breastmnist"]
    assert b["medmnist"]["task"] == "binary-class"


def _medmnist_reference(task, y, score):
    """medmnist.Evaluator's getAUC / getACC written out with sklearn (the authors' definitions)."""
    if task == "multi-label, binary-class":
        auc = np.mean([roc_auc_score(y[:, i], score[:, i]) for i in range(y.shape[1])])
        acc = np.mean([accuracy_score(y[:, i], score[:, i] > 0.5) for i in range(y.shape[1])])
    elif task == "binary-class":
        auc, acc = roc_auc_score(y, score[:, -1]), accuracy_score(y, score[:, -1] > 0.5)
    else:
        auc = np.mean([roc_auc_score(y == i, score[:, i]) for i in range(score.shape[1])])
        acc = accuracy_score(y, score.argmax(1))
    return acc, auc


@pytest.mark.parametrize("task", ["multi-label, binary-class", "binary-class", "multi-class"])
def test_medmnist_metrics_match_the_authors_definitions(task):
    rng = np.random.default_rng(0)
    n = 200
    if task == "multi-label, binary-class":
        y = (rng.random((n, 5)) < 0.4).astype(int)
        score = np.clip(0.3 * y + rng.random((n, 5)) * 0.7, 0, 1)
    else:
        c = 2 if task == "binary-class" else 4
        y = rng.integers(0, c, n)
        z = rng.normal(size=(n, c))
        z[np.arange(n), y] += 1
        score = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    m = medmnist_metrics(task, y, score, BootstrapConfig(resamples=100))
    acc, auc = _medmnist_reference(task, y, score)
    assert m["acc"] == pytest.approx(acc) and m["auc"] == pytest.approx(auc)
    assert m["ci"]["auc"]["low"] <= auc <= m["ci"]["auc"]["high"]
