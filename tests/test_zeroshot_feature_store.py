"""Image features cached on disk by model-weights hash and image sha256: reused, and never across models."""

import numpy as np
import pytest
import torch
from test_zeroshot_cli import _one_thread, checkpoint, demo_root  # noqa: F401 (fixtures)

import medclip
from zeroshot.evaluate import EvalOptions, evaluate_suite
from zeroshot.feature_store import FeatureStore, weights_key
from zeroshot.suites import load_suite


def test_second_run_reads_features_instead_of_encoding(tmp_path, checkpoint, demo_root):  # noqa: F811
    model, pre, tok = medclip.models.create_model_from_checkpoint(str(checkpoint))
    suite = load_suite("demo", data_root=demo_root)
    ds = suite.datasets[:1]

    def run(store):
        opts = EvalOptions(batch_size=16, workers=0, cache={}, bootstrap=None, feature_store=store)
        return evaluate_suite(model, tok, suite, preprocess=pre, datasets=ds, opts=opts)[0]

    store = FeatureStore(tmp_path / "fc", model, pre)
    first = run(store)
    assert store.misses == 34 and store.save() is not None
    calls = []
    orig = model.encode_image
    model.encode_image = lambda x, **kw: calls.append(len(x)) or orig(x, **kw)
    store2 = FeatureStore(tmp_path / "fc", model, pre)
    second = run(store2)
    model.encode_image = orig
    assert calls == [] and store2.hits == 34 and store2.misses == 0
    np.testing.assert_allclose(second["_scores"]["cosine"], first["_scores"]["cosine"], rtol=1e-6, atol=1e-6)
    assert second["metrics"]["accuracy"] == first["metrics"]["accuracy"]


def test_weights_key_changes_with_any_weight():
    torch.manual_seed(0)
    m, pre, _ = medclip.create_model("medclip-tiny")
    k = weights_key(m, pre)
    with torch.no_grad():
        next(m.parameters()).view(-1)[0] += 1e-3
    assert weights_key(m, pre) != k
    assert weights_key(m, None) != weights_key(m, pre)


def test_store_file_of_another_model_is_not_used(tmp_path):
    torch.manual_seed(0)
    a, pre, _ = medclip.create_model("medclip-tiny")
    s = FeatureStore(tmp_path, a, pre)
    s.put("x" * 64, np.ones(4))
    path = s.save()
    torch.manual_seed(1)
    b, _, _ = medclip.create_model("medclip-tiny")
    assert FeatureStore(tmp_path, b, pre).rows == {}
    assert FeatureStore(tmp_path, a, pre).get("x" * 64) == pytest.approx(np.ones(4))
    assert path.is_file()
