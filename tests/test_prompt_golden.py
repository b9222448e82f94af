"""Golden values of spec §11 (G1-G13, G17-G26) through the project's own functions."""

import math

import numpy as np
import pytest
import torch

from medclip.fewshot.losses import kd_loss, kg_loss, prograd_kl, prograd_project, sccm_loss
from medclip.fewshot.methods.tip_adapter import tip_logits
from medclip.fewshot.methods.vmfcoop_ours import semantic_anchor_loss, spherical_contrastive_loss, symmetric_ce_loss
from medclip.fewshot.schedule import dassl_lr, epoch_batches, iterations_per_epoch
from medclip.fewshot.selection import robust_z, select_prompts
from medclip.fewshot.vmf import banerjee_kappa, estimate_kappa, log_normalizer, mean_direction

D = torch.float64
STUDENT = torch.tensor([[2, 0.5, -1], [0.1, 0.2, 0.3]], dtype=D)
TEACHER = torch.tensor([[1, 1, 0], [0, 2, 0]], dtype=D)


def close(a, b, tol=1e-6):
    return abs(float(a) - float(b)) <= tol


@pytest.mark.parametrize("mode", ["reference", "zscore"])
def test_g1_selection(mode):
    s = torch.tensor([10, 11, 12, 13, 50.0], dtype=D)
    med, mad, z = robust_z(s)
    assert float(med) == 12 and float(mad) == 1
    assert np.allclose(z.numpy(), [-0.533, -0.475, -0.417, -0.359, 1.785], atol=1e-3)
    assert select_prompts(s, 1.5, mode).tolist() == [True, True, True, True, False]


def test_g2_selection_even_n_lower_median():
    s = torch.tensor([20.1, 20.5, 19.8, 21.0, 25.0, 20.2, 14.0, 20.4], dtype=D)
    med, mad, z = robust_z(s)
    assert close(med, 20.2) and close(mad, 0.3)
    assert np.allclose(z.numpy(), [-0.008, 0.126, -0.109, 0.293, 1.633, 0.025, -2.052, 0.092], atol=1e-3)
    for mode in ("reference", "zscore"):
        assert select_prompts(s, 1.5, mode).int().tolist() == [1, 1, 1, 1, 0, 1, 0, 1]


def test_g3_mad_zero_guard_and_g4_std_zero():
    s = torch.tensor([5, 5, 5, 6, 9.0], dtype=D)
    _, mad, z = robust_z(s)
    assert float(mad) == 0 and not torch.isfinite(z).all()  # the reference computation would give NaN
    for mode in ("reference", "robust", "zscore"):
        assert select_prompts(s, 1.5, mode).int().tolist() == [1, 1, 1, 1, 0]
    assert select_prompts(torch.tensor([3, 3, 3, 3.0]), 1.5).all()


def test_g5_g6_kd_and_ce():
    assert close(kd_loss(STUDENT, TEACHER, "sum_div_BC"), 0.126648)
    assert close(kd_loss(STUDENT, TEACHER, "batchmean"), 0.379945)
    assert close(torch.nn.functional.cross_entropy(STUDENT, torch.tensor([0, 2])), 0.621627)


def test_g7_g8_sccm_and_kgcoop():
    w = torch.tensor([[1, 0, 0, 0], [0, 1, 0, 0]], dtype=D)
    bank = torch.tensor([[[1, 1, 0, 0], [1, 0, 1, 0]], [[0, 1, 0, 1], [0, 1, 0, 0]]], dtype=D)
    t_all = torch.nn.functional.normalize(torch.nn.functional.normalize(bank, dim=-1).mean(1), dim=-1)
    assert np.allclose(t_all.numpy(), [[0.8165, 0.4082, 0.4082, 0], [0, 0.9239, 0, 0.3827]], atol=1e-4)
    mse = sccm_loss(w, t_all)
    assert close(mse, 0.064906)
    cos = (w * t_all).sum(-1)
    assert close(mse, (2 - 2 * cos).sum() / (2 * 4))
    assert close(kg_loss(w, t_all), 0.129812)
    assert close(kg_loss(w, t_all, "squared_l2"), 2 * 0.129812)  # factor 2 (P15)


def test_g9_g10_g11_prograd_projection():
    g = torch.tensor([1.0, 0.0])
    assert torch.allclose(prograd_project(g, torch.tensor([-1.0, 1.0]), 1.0), torch.tensor([0.5, 0.5]))
    assert torch.equal(prograd_project(g, torch.tensor([1.0, 1.0])), g)
    out = prograd_project(g, torch.tensor([0.0, 0.0]))
    assert torch.equal(out, g) and torch.isfinite(out).all()


def test_g12_prograd_kl():
    assert close(prograd_kl(STUDENT, TEACHER, T=2.0), 4.528410)


def test_g13_tip_adapter():
    f = torch.tensor([[0.6, 0.8]], dtype=D)
    keys = torch.tensor([[1, 0], [0, 1], [0.6, 0.8]], dtype=D)
    values = torch.nn.functional.one_hot(torch.tensor([0, 1, 1]), 2).to(D)
    z = tip_logits(f, keys, values, torch.eye(2, dtype=D), 100.0, residual_ratio=1.0, sharpness=1.0)
    assert np.allclose(z.numpy(), [[60.670320, 81.818731]], atol=1e-5)
    assert np.allclose((torch.exp(-(1 - f @ keys.T)) @ values).numpy(), [[0.670320, 1.818731]], atol=1e-6)


def test_g17_lr_schedule_and_drop_last():
    lrs = {e: dassl_lr(e, 0.0025, 100) for e in (0, 1, 2, 50, 99)}
    assert lrs[0] == 1e-5 and close(lrs[1], 0.0025, 1e-12)
    assert close(lrs[2], 0.00249938, 1e-8) and close(lrs[50], 0.00128926, 1e-8)
    assert close(lrs[99], 2.46659e-6, 1e-10)
    assert iterations_per_epoch(16 * 4, 4) == 16 and iterations_per_epoch(3, 4) == 1
    assert iterations_per_epoch(10, 4) == 2 and iterations_per_epoch(10, 4, drop_last=False) == 3
    b = epoch_batches(10, 4, torch.Generator().manual_seed(0))
    assert [len(x) for x in b] == [4, 4] and len(set(torch.cat(b).tolist())) == 8


def test_g18_g19_g20_vmf_estimates():
    mu, r = mean_direction(np.array([[1.0, 0, 0], [0, 1.0, 0]]))
    assert np.allclose(mu, [0.707107, 0.707107, 0], atol=1e-6) and close(r, 0.707107)
    assert close(banerjee_kappa(0.9, 3), 10.373684)
    assert abs(estimate_kappa(0.9, 3, newton_steps=10) / 9.999999588 - 1) < 1e-6  # converged Newton
    assert close(banerjee_kappa(0.5, 3), 1.833333) and abs(estimate_kappa(0.5, 3) - 1.796756) < 1e-6
    # closed form A_3(κ) = coth κ − 1/κ at the estimate
    k = estimate_kappa(0.5, 3, newton_steps=10)
    assert abs(1 / math.tanh(k) - 1 / k - 0.5) < 1e-9
    for r_bar, ban, newton in [
        (0.9, 2421.426316, 2421.023654),
        (0.5, 341.166667, 341.066967),
        (0.99, 25422.598040, 25422.108025),
        (0.1, 51.716162, 51.715179),
        (0.02, 10.244090, 10.244082),
    ]:
        assert abs(banerjee_kappa(r_bar, 512) - ban) < 1e-5
        assert abs(estimate_kappa(r_bar, 512) - newton) < 1e-5 * max(1, newton / 1000)


def test_g21_log_normalizer():
    assert close(log_normalizer(3, 10.0), math.log(10 / (4 * math.pi * math.sinh(10))))
    assert close(log_normalizer(3, 10.0), -9.535292)
    assert abs(log_normalizer(512, 1000.0) - 327.709187) < 1e-5
    assert abs(log_normalizer(512, 10.0) - 867.870465) < 1e-5  # power-series fallback (ive underflows)


def test_g22_to_g26_vmfcoop_ours():
    mu = torch.tensor([[1.0, 0, 0], [0, 1, 0]])
    kappa = torch.tensor([10.0, 30.0])
    w = torch.tensor([[0.8, 0.6, 0], [0.6, 0.8, 0]])
    sa = semantic_anchor_loss(w, mu, kappa)
    sc = spherical_contrastive_loss(w, mu, 0.07)
    assert close(sa, 0.2, 1e-6) and close(sc, 0.055844, 1e-6)
    f = torch.tensor([[1.0, 0, 0], [0, 1, 0], [0.6, 0.8, 0]])
    y = torch.tensor([0, 1, 1])
    z = 10 * f @ w.T
    assert torch.allclose(z, torch.tensor([[8, 6], [6, 8], [9.6, 10]]))
    sce = symmetric_ce_loss(z, y, "clip")
    assert close(sce["i2t"], 0.255624) and close(sce["t2i"], 1.474656) and close(sce["sce"], 0.865140)
    wang = symmetric_ce_loss(z, y, "wang2019")
    assert close(wang["rce"], 0.852958) and close(wang["sce"], 1.108581, 2e-6)
    assert close(sce["sce"] + 1.0 * sa + 0.5 * sc, 1.093062)
