"""T3 coefficient: properties M1-M4 and the reference numbers of spec section 7 (float64)."""

import math

import pytest
import torch

from medclip.config import ConfigError, load_config
from medclip.merge.coef import (
    CoefConfig,
    batch_lambdas,
    js_divergence,
    lambda_from_js,
    lambda_stats,
    probabilities,
    t3_lambdas,
)
from medclip.merge.config import MergeConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _rand_probs(n, k, gen):
    return torch.softmax(torch.randn(n, k, generator=gen, dtype=torch.float64) * 3, dim=-1)


def test_m1_symmetry_exact():
    gen = torch.Generator().manual_seed(1)
    p, q = _rand_probs(200, 7, gen), _rand_probs(200, 7, gen)
    cfg = CoefConfig()
    _, l_pq = t3_lambdas(p, q, cfg)
    _, l_qp = t3_lambdas(q, p, cfg)
    assert torch.equal(l_pq, l_qp)


def test_m2_identical_inputs_give_midpoint_exactly():
    gen = torch.Generator().manual_seed(2)
    p = torch.cat(
        [_rand_probs(50, 5, gen), torch.eye(5, dtype=torch.float64), torch.full((1, 5), 0.2, dtype=torch.float64)]
    )
    for cfg in (CoefConfig(), CoefConfig(lambda_min=0.2, lambda_max=0.9, gamma=7.0, js_log_base="2")):
        js, lam = t3_lambdas(p, p.clone(), cfg)
        assert torch.equal(js, torch.zeros_like(js))
        assert (lam == cfg.lambda_min + (cfg.lambda_max - cfg.lambda_min) / 2).all()


def test_m3_monotone_toward_disjoint_support():
    p = torch.tensor([0.6, 0.3, 0.1, 0.0, 0.0], dtype=torch.float64)
    r = torch.tensor([0.0, 0.0, 0.0, 0.5, 0.5], dtype=torch.float64)  # disjoint support
    ts = torch.linspace(0, 1, 101, dtype=torch.float64)
    q = (1 - ts)[:, None] * p + ts[:, None] * r
    cfg = CoefConfig(gamma=2.0)
    js, lam = t3_lambdas(p.expand_as(q), q, cfg)
    assert (js.diff() > 0).all() and (lam.diff() > 0).all()
    _, lam0 = t3_lambdas(p.expand_as(q), q, CoefConfig(gamma=0.0))
    assert (lam0 == 0.5).all()


def test_m4_bounds_and_upper_equality():
    gen = torch.Generator().manual_seed(4)
    for cfg in (CoefConfig(), CoefConfig(gamma=5.0), CoefConfig(js_log_base="2", lambda_min=0.1, lambda_max=0.7)):
        lo, hi = cfg.lambda_range()
        _, lam = t3_lambdas(_rand_probs(500, 4, gen), _rand_probs(500, 4, gen), cfg)
        assert (lam >= lo).all() and (lam <= hi + 1e-15).all()
        _, top = t3_lambdas(torch.tensor([[1.0, 0, 0]]), torch.tensor([[0, 1.0, 0]]), cfg)
        assert float(top) == pytest.approx(hi, abs=1e-12)


@pytest.mark.parametrize(
    "p,q,js_ln,l05,l5,js_2,l05_2",
    [
        ([0.7, 0.2, 0.1], [0.5, 0.3, 0.2], 0.021901, 0.502738, 0.527349, 0.031597, 0.503950),
        ([0.8, 0.1, 0.1], [0.1, 0.8, 0.1], 0.309884, 0.538658, 0.824830, 0.447067, 0.555652),
        ([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], math.log(2), 2 - math.sqrt(2), 0.969697, 1.0, 0.622459),
        ([0.2, 0.5, 0.3], [0.2, 0.5, 0.3], 0.0, 0.5, 0.5, 0.0, 0.5),
    ],
)
def test_reference_numbers(p, q, js_ln, l05, l5, js_2, l05_2):
    p, q = torch.tensor([p], dtype=torch.float64), torch.tensor([q], dtype=torch.float64)
    assert float(js_divergence(p, q)) == pytest.approx(js_ln, abs=1e-6)
    assert float(t3_lambdas(p, q, CoefConfig())[1]) == pytest.approx(l05, abs=1e-6)
    assert float(t3_lambdas(p, q, CoefConfig(gamma=5.0))[1]) == pytest.approx(l5, abs=1e-6)
    assert float(js_divergence(p, q, log_base="2")) == pytest.approx(js_2, abs=1e-6)
    assert float(t3_lambdas(p, q, CoefConfig(js_log_base="2"))[1]) == pytest.approx(l05_2, abs=1e-6)


def test_logit_scale_sensitivity_reference():
    cb, ce = torch.tensor([0.31, 0.28, 0.25]), torch.tensor([0.20, 0.35, 0.22])
    cfg = CoefConfig(prob_mode="unscaled")
    js, lam = t3_lambdas(probabilities(cb, 1.0, cfg), probabilities(ce, 1.0, cfg), cfg)
    assert float(js) == pytest.approx(0.000690, abs=1e-6) and float(lam) == pytest.approx(0.500086, abs=1e-6)
    cfg = CoefConfig()
    s = math.exp(4.4454)
    js, lam = t3_lambdas(probabilities(cb, s, cfg), probabilities(ce, s, cfg), cfg)
    assert float(js) == pytest.approx(0.5617, abs=1e-4) and float(lam) == pytest.approx(0.5698, abs=1e-4)
    t = CoefConfig(prob_mode="temperature", prob_temperature=1 / s)
    assert torch.allclose(probabilities(cb, 1.0, t), probabilities(cb, s, cfg))


def test_direction_and_expert_ablation():
    js = torch.tensor([0.0, 0.3, 0.6], dtype=torch.float64)
    lam = lambda_from_js(js, CoefConfig(gamma=3.0))
    assert (lam.diff() > 0).all()  # more disagreement -> more base
    assert torch.allclose(lambda_from_js(js, CoefConfig(gamma=3.0, coef_target="expert")), 1 - lam)


def test_input_validation():
    with pytest.raises(ValueError, match="sums to"):
        js_divergence(torch.tensor([[0.5, 0.4]]), torch.tensor([[0.5, 0.5]]))
    with pytest.raises(ValueError, match="non-negative"):
        js_divergence(torch.tensor([[1.2, -0.2]]), torch.tensor([[0.5, 0.5]]))
    with pytest.raises(ValueError, match="differ in shape"):
        js_divergence(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0, 0.0]]))


def test_config_knobs_validated_and_loaded(tmp_path):
    with pytest.raises(ConfigError, match="allow_extrapolation"):
        CoefConfig(lambda_min=-0.5).validate()
    CoefConfig(lambda_min=-0.5, allow_extrapolation=True).validate()
    with pytest.raises(ConfigError, match="lambda_min"):
        CoefConfig(lambda_min=0.8, lambda_max=0.2).validate()
    with pytest.raises(ConfigError, match="js_log_base"):
        CoefConfig(js_log_base="10").validate()
    (tmp_path / "m.yaml").write_text("coef:\n  gamma: 5\n  js_log_base: 2\nmerge_batch_size: 8\n")
    cfg = load_config(MergeConfig, tmp_path / "m.yaml", ["coef.lambda_max=0.9"])
    assert cfg.coef.gamma == 5.0 and cfg.coef.js_log_base == "2" and cfg.coef.lambda_max == 0.9
    with pytest.raises(ConfigError, match="gamma"):
        load_config(MergeConfig, None, ["coef.gama=1"])
    with pytest.raises(ConfigError, match="shuffle"):
        load_config(MergeConfig, None, ["shuffle=true"])


def test_batch_aggregators_differ_and_b1_is_identity():
    gen = torch.Generator().manual_seed(5)
    cfg = CoefConfig(gamma=4.0)
    js, lam = t3_lambdas(_rand_probs(10, 3, gen), _rand_probs(10, 3, gen), cfg)
    assert torch.equal(batch_lambdas(lam, js, cfg, batch_size=1), lam)
    a = batch_lambdas(lam, js, cfg, batch_size=4)
    b = batch_lambdas(lam, js, cfg, batch_size=4, agg="lambda_of_mean_js")
    assert torch.allclose(a[:4], lam[:4].mean().expand(4)) and torch.allclose(a[8:], lam[8:].mean().expand(2))
    assert torch.allclose(b[:4], lambda_from_js(js[:4].mean(), cfg).expand(4))
    assert not torch.allclose(a, b)


def test_lambda_stats():
    s = lambda_stats(torch.tensor([0.5, 0.55, 0.58], dtype=torch.float64), CoefConfig())
    assert s["n"] == 3 and s["min"] == 0.5 and s["max"] == 0.58 and sum(s["hist_counts"]) == 3
    assert s["hist_edges"][0] == 0.5 and s["hist_edges"][-1] == pytest.approx(2 - math.sqrt(2))
