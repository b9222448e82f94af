"""LoRA-delta equivalence (M6), static merges and per-sample baselines against their formulas."""

import copy
import math

import pytest
import torch

import medclip
from medclip.merge import baselines, static
from medclip.merge.engines import merged_logits
from medclip.merge.lora import add_lora, base_minus_expert, lora_factors, merge_lora
from medclip.merge.pair import MergePair

PROMPTS = [["a chest x-ray"], ["a brain mri", "an mri of the head"], ["a fundus photo"]]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _lora_expert(name, rank=4):
    torch.manual_seed(0)
    base, _, tok = medclip.create_model(name)
    expert = copy.deepcopy(base)
    loras = add_lora(expert.visual, rank=rank, alpha=8.0)
    with torch.no_grad():
        for lo in loras.values():
            lo.B.normal_(0, 0.2)  # a trained-looking, non-zero delta
    factors = lora_factors(loras)
    merge_lora(expert.visual)
    return base, expert, tok, factors


@pytest.mark.parametrize("name", ["medclip-tiny", "medclip-tiny-hf"])
def test_m6_lora_delta_equivalence(name):
    base, expert, tok, factors = _lora_expert(name)
    sd_b, sd_e = base.state_dict(), expert.state_dict()
    assert set(factors) and all(k in sd_e for k in factors)
    for k, f in factors.items():  # theta_e = theta_b + s B A, and lerp == theta_b + (1 - lam) s B A
        assert torch.allclose(sd_e[k], sd_b[k] + f.b @ f.a, atol=1e-6)
        lam = 0.3
        assert torch.allclose(torch.lerp(sd_e[k], sd_b[k], lam), sd_b[k] + (1 - lam) * (f.b @ f.a), atol=1e-6)
    pair = MergePair(base, expert)
    assert sorted(pair.differing) == sorted(factors)  # LoRA touches only q/k/v weights
    images = torch.randn(5, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    lam = torch.tensor([0.0, 0.25, 0.5, 0.9, 1.0], dtype=torch.float64)
    kw = dict(tokenizer=tok, class_prompts=PROMPTS)
    ref = merged_logits(pair, images, lam, engine="naive", per_sample=True, **kw)
    low = merged_logits(pair, images, lam, engine="delta", lowrank=base_minus_expert(factors), **kw)
    assert (low.cos - ref.cos).abs().max() < 1e-5
    assert (low.cos[0] - ref.cos[0]).abs().max() <= 1e-6  # lam = 0 row inside a mixed batch
    zero = torch.zeros(5, dtype=torch.float64)
    z_ref = merged_logits(pair, images, zero, engine="naive", **kw)
    z_low = merged_logits(pair, images, zero, engine="delta", lowrank=base_minus_expert(factors), **kw)
    assert torch.equal(z_low.cos, z_ref.cos) and z_low.dual_passes == 0  # all-zero batch: the stock expert


def test_lora_targets_and_freeze():
    base, _, _ = medclip.create_model("medclip-tiny")
    loras = add_lora(base.visual, rank=2, targets=("q", "v"))
    trainable = [n for n, p in base.visual.named_parameters() if p.requires_grad]
    assert trainable and all(".A" in n or ".B" in n for n in trainable)
    lo = next(iter(loras.values()))
    with torch.no_grad():
        lo.B.fill_(1.0)
    d = lo.delta()
    assert (d[lo.d : 2 * lo.d] == 0).all() and (d[: lo.d] != 0).any()  # k untouched
    with pytest.raises(ValueError, match="subset of q, k, v"):
        add_lora(copy.deepcopy(base.visual), targets=("o",))


@pytest.fixture(scope="module")
def pair():
    torch.manual_seed(0)
    base, _, tok = medclip.create_model("medclip-tiny")
    expert = copy.deepcopy(base)
    with torch.no_grad():
        for p in expert.visual.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return MergePair(base, expert)


def test_static_merges_follow_their_formulas(pair):
    tau = pair.task_vector()
    k = pair.differing[3]
    b, e = pair.base_sd[k], pair.expert_sd[k]
    assert torch.allclose(static.weight_average(pair)[k], (b + e) / 2, atol=1e-7)
    assert torch.allclose(static.wise_ft(pair, 0.2)[k], 0.8 * b + 0.2 * e, atol=1e-7)
    ta, wi = static.task_arithmetic(pair, 0.3), static.wise_ft(pair, 0.3)
    assert all(torch.allclose(ta[n], wi[n], atol=1e-6) for n in ta)  # single expert: TA(s) == WiSE(alpha=s)
    ties = static.ties(pair, top_k=20.0, scale=1.0)
    kept = sum(int((ties[n] != pair.base_sd[n]).sum()) for n in ties)
    total = sum(t.numel() for t in tau.values())
    assert abs(kept / total - 0.2) < 0.01
    flat = torch.cat([t.abs().flatten() for t in tau.values()])
    thresh = flat.kthvalue(total - int(round(0.2 * total)) + 1).values
    for n in ties:  # kept entries are exactly theta_b + tau, the largest |tau|
        m = tau[n].abs() >= thresh
        assert torch.allclose(ties[n][m], (pair.base_sd[n] + tau[n])[m], atol=1e-6)
        assert torch.equal(ties[n][~m], pair.base_sd[n][~m])
    d1, d2 = static.dare(pair, drop=0.7, seed=0), static.dare(pair, drop=0.7, seed=0)
    assert all(torch.equal(d1[n], d2[n]) for n in d1)
    off = torch.cat([(d1[n] - pair.base_sd[n]).flatten() for n in d1])
    t = torch.cat([tau[n].flatten() for n in d1])
    kept = off != 0
    assert abs(float(kept.float().mean()) - 0.3) < 0.02
    assert torch.allclose(off[kept], t[kept] / 0.3, rtol=1e-4, atol=1e-6)


def test_ties_sign_election_multi_expert():
    t1 = {"w": torch.tensor([3.0, -2.0, 1.0, 0.1])}
    t2 = {"w": torch.tensor([1.0, 4.0, -1.0, 0.2])}
    out = static.ties_offsets([t1, t2], top_k=75.0, scale=1.0)["w"]
    # kept (top 3 of 4 each): t1 -> [3, -2, 1, 0], t2 -> [1, 4, -1, 0]; elected signs: +, +, 0 (tie), 0
    assert torch.allclose(out, torch.tensor([2.0, 4.0, 0.0, 0.0]))


def test_dawin_and_controls():
    pb = torch.tensor([[0.9, 0.05, 0.05], [1 / 3, 1 / 3, 1 / 3]], dtype=torch.float64)
    pe = torch.tensor([[1 / 3, 1 / 3, 1 / 3], [0.9, 0.05, 0.05]], dtype=torch.float64)
    hb, he = baselines.entropy(pb), baselines.entropy(pe)
    assert float(he[0]) == pytest.approx(math.log(3))
    w = baselines.dawin_expert_weight(pb, pe)
    assert torch.allclose(w, torch.exp(-he) / (torch.exp(-hb) + torch.exp(-he)))
    assert w[0] < 0.5 < w[1]  # the confident model gets more weight
    assert torch.allclose(baselines.dawin_lambda(pb, pe), 1 - w)
    b = 0.5 * (float(hb.std(unbiased=False) / hb.mean()) + float(he.std(unbiased=False) / he.mean()))
    r = (float(hb.mean()) + float(he.mean())) / float(hb.mean())
    want = (torch.exp(-he) + b / r) / (torch.exp(-hb) + torch.exp(-he) + b)
    assert torch.allclose(baselines.dawin_expert_weight(pb, pe, offset=True), want)
    for kind, mean in (("uniform", 0.5), ("normal_0.5_0.2", 0.5), ("normal_0.8_0.1", 0.8)):
        x = baselines.random_lambda(4000, kind, seed=0)
        assert x.min() >= 0.01 and x.max() <= 0.99 and abs(float(x.mean()) - mean) < 0.02
        assert torch.equal(x, baselines.random_lambda(4000, kind, seed=0))
    ens = baselines.output_ensemble(pb, pe, 0.25)
    assert torch.allclose(ens, 0.75 * pb + 0.25 * pe)


def test_dawin_bmm_recovers_clusters():
    gen = torch.Generator().manual_seed(0)
    centers = torch.tensor([0.15, 0.5, 0.85], dtype=torch.float64)
    w = torch.cat([c + 0.02 * torch.randn(60, generator=gen, dtype=torch.float64) for c in centers])
    w = w[torch.randperm(len(w), generator=gen)]
    assign, means = baselines.beta_mixture_assign(w, 3)
    assert torch.allclose(means.sort().values, centers, atol=0.01)
    assert len(set(assign.tolist())) == 3
    for j in range(3):  # each cluster is one of the generated groups
        members = w[assign == j]
        assert (members - members.mean()).abs().max() < 0.1
    pb = torch.softmax(torch.randn(50, 4, generator=gen, dtype=torch.float64), -1)
    pe = torch.softmax(3 * torch.randn(50, 4, generator=gen, dtype=torch.float64), -1)
    lam = baselines.dawin_bmm_lambda(pb, pe, batch=20)
    assert len(set(lam[:20].tolist())) <= 3 and len(set(lam.tolist())) <= 9
