"""Temperature scaling and calibration metrics against known temperatures, sklearn and scipy; the saved file."""

import json

import numpy as np
import pytest
from sklearn.metrics import log_loss

from zeroshot import metrics
from zeroshot.stats.calibration import brier, calibration_metrics, ece, fit_temperature, nll, softmax
from zeroshot.stats.temperature_store import calibration_path, load_temperature, save_temperatures


def _simulate(t_true, n=20000, c=5, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=2.0, size=(n, c))
    p = softmax(z)
    y = (rng.random(n)[:, None] > np.cumsum(p, 1)).sum(1)  # labels drawn from softmax(z)
    return z * t_true, y  # a model whose logits are t_true times too large


@pytest.mark.parametrize("t_true", [0.5, 1.0, 2.5])
def test_fit_recovers_a_known_temperature(t_true):
    logits, y = _simulate(t_true)
    fit = fit_temperature(logits, y)
    assert fit["temperature"] == pytest.approx(t_true, rel=0.05)
    assert fit["nll_after"] <= fit["nll_before"] + 1e-12 and not fit["clipped"]


def test_fit_is_the_nll_minimum_found_by_scipy():
    from scipy.optimize import minimize_scalar

    logits, y = _simulate(1.7, n=3000, seed=1)
    t = fit_temperature(logits, y)["temperature"]
    ref = minimize_scalar(lambda lt: nll(logits / np.exp(lt), y), bounds=(-4, 4), method="bounded").x
    assert t == pytest.approx(np.exp(ref), rel=1e-4)
    assert (softmax(logits / t).argmax(1) == logits.argmax(1)).all()  # argmax unchanged


def test_separable_data_hits_the_clip():
    logits = np.array([[10.0, 0.0], [0.0, 10.0]])
    fit = fit_temperature(logits, np.array([0, 1]))
    assert fit["clipped"] and fit["temperature"] == pytest.approx(0.01)
    with pytest.raises(ValueError, match="logits"):
        fit_temperature(np.zeros(3), np.zeros(3, dtype=int))


def test_metrics_against_sklearn_and_hand_values():
    logits, y = _simulate(2.0, n=500)
    p = softmax(logits)
    assert nll(logits, y) == pytest.approx(log_loss(y, p, labels=range(5)))
    assert brier(np.array([[0.8, 0.2], [0.4, 0.6]]), np.array([0, 0])) == pytest.approx((0.08 + 0.72) / 2)
    assert ece(p, y) == pytest.approx(metrics.reliability(y, p)["ece"])
    cm = calibration_metrics(logits, y, n_bins=10)
    assert cm["n_bins"] == 10 and cm["ece"] == pytest.approx(metrics.reliability(y, p, 10)["ece"])


def test_temperature_file_round_trip(tmp_path):
    ckpt = tmp_path / "latest.pt"
    ckpt.write_bytes(b"x")
    assert load_temperature(ckpt, "demo", "demo") == 1.0 and load_temperature(ckpt, "demo", "x", None) is None
    path = save_temperatures(ckpt, {"demo/demo": {"temperature": 1.5}})
    save_temperatures(ckpt, {"demo/demo_shifted": {"temperature": 2.0}})
    assert path == calibration_path(ckpt) == tmp_path / "latest.pt.calibration.json"
    assert load_temperature(ckpt, "demo", "demo") == 1.5 and load_temperature(ckpt, "demo", "demo_shifted") == 2.0
    assert json.loads(path.read_text())["format"] == 1
    with pytest.raises(ValueError, match="positive temperature"):
        save_temperatures(ckpt, {"demo/demo": {"temperature": -1}})


def test_stats_import_without_torch():
    import subprocess
    import sys

    code = "import sys, zeroshot.stats.temperature_store, zeroshot.stats.calibration; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
