"""Merge engines: dual / delta vs the naive per-sample reference (M7), endpoints (M5), M8-M12, guards."""

import copy

import pytest
import torch

import medclip
from medclip.merge.config import MergeConfig
from medclip.merge.dual import DualEngine
from medclip.merge.engines import merged_logits
from medclip.merge.pair import MergeError, MergePair
from medclip.merge.t3 import run_methods
from medclip.zeroshot_head import build_text_classifier

PROMPTS = [["a chest x-ray", "a radiograph of the chest"], ["a brain mri"], ["a fundus photo of the retina"]]
KINDS = ["medclip-tiny", "medclip-tiny-hf"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _perturb(model, scale=0.05, seed=1, prefix=""):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith(prefix):
                p.add_(torch.randn(p.shape, generator=gen) * scale)
    return model


@pytest.fixture(scope="module", params=KINDS)
def models(request):
    torch.manual_seed(0)
    base, _, tok = medclip.create_model(request.param)
    expert = _perturb(copy.deepcopy(base))
    return request.param, base, expert, tok


@pytest.fixture(scope="module")
def images():
    return torch.randn(7, 3, 64, 64, generator=torch.Generator().manual_seed(3))


def _pair(models, **kw):
    _, base, expert, _ = models
    return MergePair(copy.deepcopy(base), copy.deepcopy(expert), **kw)


def test_every_tensor_differs(models):
    pair = _pair(models)
    floats = [k for k, v in pair.base_sd.items() if v.is_floating_point()]
    assert pair.differing == floats and pair.text_differs and pair.vision_differs


def test_m7_dual_and_delta_match_naive_per_sample(models, images):
    pair = _pair(models)
    tok = models[3]
    lam = torch.rand(len(images), generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    kw = dict(tokenizer=tok, class_prompts=PROMPTS, batch_size=4)
    ref = merged_logits(pair, images, lam, engine="naive", per_sample=True, **kw)
    assert ref.rebuilds == len(images)
    for engine in ("dual", "delta"):
        out = merged_logits(pair, images, lam, engine=engine, **kw)
        assert out.rebuilds == 0 and out.dual_passes > 0
        assert (out.cos - ref.cos).abs().max() < 1e-5, engine
        assert (out.scale - ref.scale).abs().max() < 1e-5 * ref.scale.max()
        top2 = ref.cos.topk(2, dim=-1).values
        clear = (top2[:, 0] - top2[:, 1]) >= 1e-4
        assert torch.equal(out.cos.argmax(-1)[clear], ref.cos.argmax(-1)[clear])


def test_naive_reference_is_an_independent_merge(models, images):
    """The naive engine equals a model built by hand from lam*theta_b + (1-lam)*theta_e."""
    pair = _pair(models)
    _, base, expert, tok = models
    lam = 0.37
    hand = copy.deepcopy(expert)
    sd_b, sd_e = base.state_dict(), expert.state_dict()
    hand.load_state_dict(
        {k: lam * sd_b[k] + (1 - lam) * sd_e[k] if v.is_floating_point() else v for k, v in sd_e.items()}
    )
    text = build_text_classifier(hand, tok, PROMPTS)
    want = hand.encode_image(images, normalize=True) @ text.T
    got = merged_logits(
        pair, images, torch.full((len(images),), lam), engine="naive", tokenizer=tok, class_prompts=PROMPTS
    )
    assert (got.cos - want).abs().max() < 1e-5
    assert got.scale[0] == pytest.approx(float(hand.logit_scale.detach().exp()), rel=1e-6)


def test_m5_endpoints(models, images):
    pair = _pair(models)
    _, base, expert, tok = models
    kw = dict(tokenizer=tok, class_prompts=PROMPTS, batch_size=len(images))
    with torch.no_grad():
        ref = {
            0.0: expert.encode_image(images, normalize=True) @ build_text_classifier(expert, tok, PROMPTS).T,
            1.0: base.encode_image(images, normalize=True) @ build_text_classifier(base, tok, PROMPTS).T,
        }
    for lam, want in ref.items():
        for engine in ("naive", "dual"):
            out = merged_logits(pair, images, torch.full((len(images),), lam), engine=engine, **kw)
            assert torch.equal(out.cos, want), (engine, lam)  # bit-identical
    mixed = torch.tensor([0.0, 1.0, 0.3, 0.0, 0.8, 1.0, 0.5], dtype=torch.float64)
    out = merged_logits(pair, images, mixed, engine="dual", **kw)
    for i, lam in enumerate(mixed.tolist()):
        if lam in ref:
            assert (out.cos[i] - ref[lam][i]).abs().max() <= 1e-6
    dual = DualEngine(pair)
    assert torch.equal(
        dual.logit_scale(torch.tensor([0.0, 1.0])),
        torch.stack([expert.logit_scale.exp(), base.logit_scale.exp()]).detach(),
    )


def test_m8_t3b_batch1_equals_t3_and_m9_gamma0_is_wise(models, images):
    pair = _pair(models)
    tok = models[3]
    cfg = MergeConfig(methods=["t3", "t3_b", "wise_ft"], merge_batch_size=1, batch_size=3)
    res, _ = run_methods(pair, images, tokenizer=tok, class_prompts=PROMPTS, cfg=cfg)
    assert torch.equal(res["t3"].lam, res["t3_b"].lam) and torch.equal(res["t3"].pred, res["t3_b"].pred)
    cfg.coef.gamma = 0.0
    res, _ = run_methods(pair, images, tokenizer=tok, class_prompts=PROMPTS, cfg=cfg)
    assert (res["t3"].lam == 0.5).all() and torch.equal(res["t3"].pred, res["wise_ft"].pred)


def test_m10_identical_models_do_not_depend_on_lambda(images):
    base, _, tok = medclip.create_model("medclip-tiny")
    pair = MergePair(base, base)
    assert pair.identical
    outs = [
        merged_logits(pair, images, torch.full((7,), x), engine="dual", tokenizer=tok, class_prompts=PROMPTS)
        for x in (0.2, 0.9)
    ]
    assert torch.equal(outs[0].cos, outs[1].cos) and outs[0].dual_passes == 0 and outs[1].dual_passes == 0


def test_vision_only_expert_shares_text(models, images):
    name, base, _, tok = models
    expert = _perturb(copy.deepcopy(base), prefix="visual.")
    pair = MergePair(copy.deepcopy(base), expert)
    assert pair.vision_differs and not pair.text_differs
    lam = torch.linspace(0, 1, 7, dtype=torch.float64)
    ref = merged_logits(pair, images, lam, engine="naive", per_sample=True, tokenizer=tok, class_prompts=PROMPTS)
    out = merged_logits(pair, images, lam, engine="dual", tokenizer=tok, class_prompts=PROMPTS)
    assert (out.cos - ref.cos).abs().max() < 1e-5


def test_merge_scope_vision_keeps_expert_text(models, images):
    pair = _pair(models, merge_scope=["vision"], merge_logit_scale=False)
    assert pair.differing and all(k.startswith("visual.") for k in pair.differing) and not pair.text_differs
    assert torch.equal(pair.base_sd["logit_scale"], models[2].state_dict()["logit_scale"])


def test_m11_guards(models):
    name, base, expert, _ = models
    bad = copy.deepcopy(expert)
    bad.register_buffer("extra_buffer", torch.zeros(2))
    with pytest.raises(MergeError, match="extra_buffer"):
        MergePair(copy.deepcopy(base), bad)
    b2, e2 = copy.deepcopy(base), copy.deepcopy(expert)
    b2.register_buffer("counts", torch.zeros(3, dtype=torch.long))
    e2.register_buffer("counts", torch.ones(3, dtype=torch.long))
    with pytest.raises(MergeError, match="non-floating buffer 'counts'"):
        MergePair(b2, e2)
    b3, e3 = copy.deepcopy(base), copy.deepcopy(expert)
    for m, v in ((b3, 0.0), (e3, 1.0)):
        m.visual.bn = torch.nn.BatchNorm1d(4).eval()
        m.visual.bn.running_var.fill_(1.0 + v)
    pair = MergePair(b3, e3)
    with pytest.raises(MergeError, match=r"visual\.bn\.running_var \(BatchNorm1d\)"):
        DualEngine(pair)


def test_m12_order_independence_and_shuffle_rejected(models, images):
    pair = _pair(models)
    tok = models[3]
    cfg = MergeConfig(methods=["t3"], batch_size=3)
    res, _ = run_methods(pair, images, tokenizer=tok, class_prompts=PROMPTS, cfg=cfg)
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(9))
    res_p, _ = run_methods(pair, images[perm], tokenizer=tok, class_prompts=PROMPTS, cfg=cfg)
    assert torch.equal(res_p["t3"].pred, res["t3"].pred[perm])
    assert torch.allclose(res_p["t3"].lam, res["t3"].lam[perm])
    with pytest.raises(Exception, match="shuffle"):
        run_methods(pair, images, tokenizer=tok, class_prompts=PROMPTS, cfg=MergeConfig(shuffle=True))


def test_text_modes(models, images):
    pair = _pair(models)
    tok = models[3]
    lam = torch.tensor([0.2, 0.2, 0.6, 0.6, 0.9, 0.1, 0.4], dtype=torch.float64)
    kw = dict(tokenizer=tok, class_prompts=PROMPTS, batch_size=4)
    auto = merged_logits(pair, images, lam, engine="dual", **kw)
    rec = merged_logits(pair, images, lam, engine="dual", text_mode="recompute", **kw)
    assert (auto.cos - rec.cos).abs().max() < 1e-5 and rec.rebuilds == len(set(lam.tolist()))
    approx = merged_logits(pair, images, lam, engine="dual", text_mode="approx_mix", **kw)
    assert approx.info["text_mode"] == "approx_mix" and (approx.cos - auto.cos).abs().max() > 1e-6
    with pytest.raises(MergeError, match="text_mode"):
        merged_logits(pair, images, lam, engine="dual", text_mode="bogus", **kw)
