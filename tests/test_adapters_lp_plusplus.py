"""LP++: initialisation, logits and step sizes against naive computations; best-val selection."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from medclip.fewshot.methods.lp_plusplus import LPPlusPlus, fit_lp_plusplus, lp_plusplus_step_sizes
from medclip.fewshot.valsplit import ValSplit


def _toy(n_per=4, C=3, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    protos = F.normalize(torch.randn(C, d, generator=g), dim=-1)
    y = torch.arange(C).repeat_interleave(n_per)
    x = F.normalize(protos[y] + 0.3 * torch.randn(len(y), d, generator=g), dim=-1)
    text = F.normalize(protos + 0.5 * torch.randn(C, d, generator=g), dim=-1)
    return x, y, text, protos


def test_init_and_logits_match_a_naive_computation():
    x, y, text, _ = _toy()
    head = LPPlusPlus(x, y, text, alpha_init_scale=250.0)
    for c in range(3):
        centroid = x[y == c].mean(0)
        assert torch.allclose(head.visual[c], centroid, atol=1e-6)
        assert head.alpha[c].item() == pytest.approx(250.0 / 4 * float(centroid @ text[c]), rel=1e-5)
    f = torch.randn(5, 8)
    fn = f / f.norm(dim=-1, keepdim=True)
    want = torch.tensor(
        [
            [float(fn[i] @ head.visual[c] + head.bias[c] + head.alpha[c] * (fn[i] @ text[c])) for c in range(3)]
            for i in range(5)
        ]
    )
    assert torch.allclose(head.predict_logits(f), want, atol=1e-5)


def test_step_sizes_follow_the_brief():
    x, _, text, _ = _toy()
    lr_v, lr_a = lp_plusplus_step_sizes(x, text)
    xn = x.double().numpy()
    lam = np.linalg.eigvalsh(xn.T @ xn).max()
    sims = xn @ text.double().numpy().T
    assert lr_v == pytest.approx(4 * len(xn) / lam, rel=1e-6)
    assert lr_a == pytest.approx(len(xn) / (4 * (sims**2).sum(0).max()), rel=1e-6)


def test_training_improves_and_keeps_the_best_validation_state():
    x, y, text, protos = _toy(n_per=6, seed=1)
    g = torch.Generator().manual_seed(2)
    vy = torch.arange(3).repeat_interleave(5)
    vx = F.normalize(protos[vy] + 0.3 * torch.randn(15, 8, generator=g), dim=-1)
    head, info = fit_lp_plusplus(x, y, text, ValSplit(vx, vy), epochs=60)
    assert 0 <= info["best_epoch"] <= 60 and info["lr_visual"] > 0 and info["lr_alpha"] > 0
    acc = float((head.predict_logits(vx).argmax(-1) == vy).float().mean())
    assert acc == pytest.approx(info["val_acc"])  # the kept state is the one that scored best on val
    assert acc >= float((LPPlusPlus(x, y, text)(vx).argmax(-1) == vy).float().mean())
    with pytest.raises(AssertionError, match="validation split"):
        fit_lp_plusplus(x, y, text, ValSplit(vx, vy, split="test"), epochs=1)
