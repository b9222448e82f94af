"""Corruptions: determinism, severity monotonicity, shapes; mCE arithmetic."""

import numpy as np
import pytest

from zeroshot.robust_eval import compare
from zeroshot.robustness import CORRUPTIONS, corrupt


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:96, 0:96] / 96.0
    base = 0.5 + 0.3 * np.sin(6 * xx) * np.cos(4 * yy)
    img = np.stack([base, base * 0.8, 1 - base], 2) + rng.normal(0, 0.03, (96, 96, 3))
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def test_names():
    assert set(CORRUPTIONS) == {
        "gaussian_noise",
        "speckle_noise",
        "gaussian_blur",
        "motion_blur",
        "jpeg",
        "pixelate",
        "brightness",
        "contrast",
        "gamma",
        "stain_bubble",
    }


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_deterministic_and_monotone(image, name):
    outs = [corrupt(image, name, s, seed=7) for s in range(1, 6)]
    for s, o in enumerate(outs, start=1):
        assert o.shape == image.shape and o.dtype == np.uint8
        assert np.array_equal(o, corrupt(image, name, s, seed=7))  # same seed -> identical
    dist = [np.abs(o.astype(float) - image).mean() for o in outs]
    assert dist[0] > 0.5, f"{name} severity 1 changes nothing"
    assert all(b >= a - 1e-9 for a, b in zip(dist, dist[1:])), f"{name}: {dist}"


@pytest.mark.parametrize("name", ["gaussian_noise", "speckle_noise", "motion_blur", "stain_bubble"])
def test_seed_changes_random_corruptions(image, name):
    assert not np.array_equal(corrupt(image, name, 3, seed=1), corrupt(image, name, 3, seed=2))


def test_grayscale_shapes_and_errors(image):
    gray = image[:, :, 0]
    for name in CORRUPTIONS:
        assert corrupt(gray, name, 2, 0).shape == gray.shape
    assert corrupt(image[:, :, :1], "stain_bubble", 2, 0).shape == (96, 96, 1)
    with pytest.raises(ValueError, match="unknown corruption 'fog'"):
        corrupt(image, "fog", 1, 0)
    with pytest.raises(ValueError, match="severity"):
        corrupt(image, "jpeg", 6, 0)
    with pytest.raises(ValueError, match="uint8"):
        corrupt(image.astype(np.float32), "jpeg", 1, 0)


def test_mce_arithmetic():
    model = {"clean_error": 0.1, "errors": {"a": [0.2, 0.3, 0.4, 0.5, 0.6], "b": [0.1, 0.1, 0.1, 0.1, 0.1]}}
    ref = {"clean_error": 0.2, "errors": {"a": [0.4, 0.5, 0.6, 0.7, 0.8], "b": [0.2, 0.2, 0.2, 0.2, 0.2]}}
    res = compare(model, ref)
    ce_a, ce_b = 2.0 / 3.0, 0.5
    assert res["ce"] == pytest.approx({"a": ce_a, "b": ce_b})
    assert res["mce"] == pytest.approx((ce_a + ce_b) / 2)
    # relative: (sum(E) - 5 * clean) / (sum(E_ref) - 5 * clean_ref); b's reference loses nothing -> undefined
    assert res["relative_ce"]["a"] == pytest.approx((2.0 - 0.5) / (3.0 - 1.0))
    assert res["relative_ce"]["b"] is None
    assert res["relative_mce"] == pytest.approx(0.75)
    assert res["error_reduction"] == pytest.approx(1 - 2.5 / 4.0)
