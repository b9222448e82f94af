"""Linear probe (shared contract) against an independent scikit-learn computation; Tip-Adapter search."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression

from medclip.fewshot.methods.linear_probe import fit_linear_probe
from medclip.fewshot.methods.tip_adapter import beta_alpha_grid, build_cache, search_alpha_beta, tip_logits
from medclip.fewshot.valsplit import ValSplit


def _blobs(n, seed, d=8, C=3, spread=1.5):
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(42).normal(0, 1, (C, d))
    y = np.arange(n) % C
    return centers[y] * spread / 2 + rng.normal(0, 1, (n, d)), y


def test_linear_probe_matches_sklearn_and_picks_best_val_c():
    tx, ty = _blobs(60, 0)
    vx, vy = _blobs(45, 1)
    grid = [1e2, 1.0, 1e-2, 1e-4]
    probe = fit_linear_probe(tx, ty, vx, vy, Cs=grid, seed=0, n_bisect=0)
    accs = [(LogisticRegression(C=c, max_iter=1000, random_state=0).fit(tx, ty).predict(vx) == vy).mean() for c in grid]
    assert probe.C == grid[int(np.argmax(accs))] and probe.val_accuracy == pytest.approx(max(accs))
    ref = LogisticRegression(C=probe.C, max_iter=1000, random_state=0).fit(tx, ty)
    assert np.allclose(probe.predict_proba(vx), ref.predict_proba(vx), atol=1e-8)
    assert probe.predict_proba(torch.tensor(vx[:5], dtype=torch.float32)).shape == (5, 3)


def test_linear_probe_bisection_never_worse_and_errors():
    tx, ty = _blobs(60, 0)
    vx, vy = _blobs(45, 1)
    coarse = fit_linear_probe(tx, ty, vx, vy, Cs=[1e2, 1.0, 1e-2], n_bisect=0)
    fine = fit_linear_probe(tx, ty, vx, vy, Cs=[1e2, 1.0, 1e-2], n_bisect=3)
    assert fine.val_accuracy >= coarse.val_accuracy and len(fine.history) > len(coarse.history)
    with pytest.raises(ValueError, match="at least two classes"):
        fit_linear_probe(tx, np.zeros(60, int), vx, vy)
    with pytest.raises(ValueError, match="length mismatch"):
        fit_linear_probe(tx, ty[:10], vx, vy)


def _tip_case(seed):
    """A 3-class cache of 12 support features, random text weights and a noisy val copy of the support."""
    g = torch.Generator().manual_seed(seed)
    keys = F.normalize(torch.randn(12, 16, generator=g), dim=-1)
    y = torch.arange(12) % 3
    k, values = build_cache(keys.unsqueeze(0), y, 3)
    w = F.normalize(torch.randn(3, 16, generator=g), dim=-1)
    val = ValSplit(F.normalize(keys + 0.3 * torch.randn(12, 16, generator=g), dim=-1), y)
    return k, values, w, val, y, beta_alpha_grid(0.1, 50, 20)


def test_tip_search_uses_val_only_and_finds_grid_optimum():
    k, values, w, val, y, grid = _tip_case(0)
    alpha, beta, acc = search_alpha_beta(val, k, values, w, 10.0, grid)
    brute = max(
        float((tip_logits(val.features, k, values, w, 10.0, a, b).argmax(-1) == y).float().mean())
        for b in grid.tolist()
        for a in grid.tolist()
    )
    assert acc == pytest.approx(brute)
    with pytest.raises(AssertionError, match="validation split"):
        search_alpha_beta(ValSplit(val.features, y, split="test"), k, values, w, 10.0, grid)


def test_tip_search_breaks_accuracy_ties_by_val_cross_entropy():
    k, values, w, val, y, grid = _tip_case(3)
    pairs = [(a, b) for b in grid.tolist() for a in grid.tolist()]
    logits = {p: tip_logits(val.features, k, values, w, 10.0, *p) for p in pairs}
    accs = {p: float((z.argmax(-1) == y).float().mean()) for p, z in logits.items()}
    top = max(accs.values())
    tied = [p for p in pairs if accs[p] == top]
    assert len(tied) > 1  # the case the rule is for
    want = min(tied, key=lambda p: float(F.cross_entropy(logits[p], y)))
    alpha, beta, acc = search_alpha_beta(val, k, values, w, 10.0, grid, "val_ce")
    assert acc == pytest.approx(top) and (alpha, beta) == pytest.approx(want, rel=1e-5)
    alpha, beta, _ = search_alpha_beta(val, k, values, w, 10.0, grid, "first")
    assert (alpha, beta) == pytest.approx(tied[0], rel=1e-5)  # grid order: smallest β, then smallest α
    with pytest.raises(ValueError, match="tie_break"):
        search_alpha_beta(val, k, values, w, 10.0, grid, "last")
