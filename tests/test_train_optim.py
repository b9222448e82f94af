"""AdamW construction: decay groups, the fused kernel by default on CPU, and its agreement with foreach."""

import math

import pytest
import torch

from medclip.train.config import OptimConfig
from medclip.train.optim import build_optimizer, lr_at


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(8, 4)
        self.ln_final = torch.nn.LayerNorm(4)
        self.logit_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))


def _run(fused, steps=5):
    torch.manual_seed(0)
    m = Tiny()
    opt = build_optimizer(m, OptimConfig(lr=1e-2, weight_decay=0.1, fused=fused), "cpu")
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        opt.zero_grad()
        x = torch.randn(16, 8, generator=g)
        (m.ln_final(m.proj(x)).pow(2).mean() * m.logit_scale).backward()
        opt.step()
    return m, opt


def test_fused_is_the_cpu_default_and_matches_the_foreach_implementation():
    fused_model, opt = _run(None)
    assert opt.defaults["fused"] is True
    loop_model, loop_opt = _run(False)
    assert not loop_opt.defaults.get("fused") and loop_opt.defaults["foreach"]
    for (n, a), (_, b) in zip(fused_model.named_parameters(), loop_model.named_parameters()):
        assert torch.allclose(a, b, atol=1e-6), n


def test_weight_decay_groups():
    _, opt = _run(None, steps=0)
    plain, decay = opt.param_groups
    assert plain["weight_decay"] == 0.0 and decay["weight_decay"] == 0.1
    assert len(decay["params"]) == 1 and decay["params"][0].shape == (4, 8)  # only the matrix decays
    assert len(plain["params"]) == 4  # bias, LayerNorm weight and bias, logit scale


def test_schedule_is_defined_on_total_steps():
    cfg = OptimConfig(lr=1.0, warmup_steps=10, min_lr=0.0)
    assert lr_at(0, cfg, 110) == pytest.approx(0.1) and lr_at(9, cfg, 110) == pytest.approx(1.0)
    assert lr_at(60, cfg, 110) == pytest.approx(0.5) and lr_at(110, cfg, 110) == pytest.approx(0.0)
