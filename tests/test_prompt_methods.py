"""Prompt learners and adapters: trainable parameters, one bf16 step each, teachers, modes, banks."""

import pytest
import torch
import torch.nn.functional as F

import medclip
from medclip.fewshot.config import FewShotMethodConfig
from medclip.fewshot.engine import train_learner
from medclip.fewshot.fit import build_prompt_learner, fit_fewshot, transfer
from medclip.fewshot.learner import frozen_scale
from medclip.fewshot.valsplit import ValSplit

CLASSES = ["pneumonia", "normal lungs", "kidney stone"]
BANK = {c: [f"an image showing {c}, view {i}." for i in range(6)] for c in CLASSES}
TRAINABLE = {
    "coop": {"ctx"},
    "cocoop": {"ctx", "meta_net.0.weight", "meta_net.0.bias", "meta_net.2.weight", "meta_net.2.bias"},
    "kgcoop": {"ctx"},
    "prograd": {"ctx"},
    "biomedcoop": {"ctx"},
    "vmfcoop_ours": {"ctx"},
}


@pytest.fixture(scope="module", params=["medclip-tiny", "medclip-tiny-hf"])
def tower(request):
    model, _, tok = medclip.create_model(request.param)
    return model, tok


def _cfg(method, **optim):
    cfg = FewShotMethodConfig(method=method)
    cfg.biomedcoop.n_prompts = 5
    cfg.linear_probe.Cs, cfg.linear_probe.n_bisect = [1.0, 0.01], 1
    for k, v in {"epochs": 2, "batch_size": 4, **optim}.items():
        setattr(cfg.optim, k, v)
    return cfg


def _data(d=64, n=9):
    g = torch.Generator().manual_seed(0)
    views = F.normalize(torch.randn(2, n, d, generator=g), dim=-1)
    y = torch.arange(n) % 3
    val = ValSplit(F.normalize(torch.randn(6, d, generator=g), dim=-1), torch.arange(6) % 3)
    return views, y, val


@pytest.mark.parametrize("method", sorted(TRAINABLE))
def test_trainable_parameter_names_and_bf16_step(tower, method):
    model, tok = tower
    learner = build_prompt_learner(_cfg(method), model, tok, CLASSES, bank=BANK)
    names = {n for n, p in learner.named_parameters() if p.requires_grad}
    assert names == TRAINABLE[method]
    assert all(not p.requires_grad for p in model.parameters())
    views, y, _ = _data()
    before = learner.ctx.detach().clone()
    hist = train_learner(
        learner, views, y, lr=0.01, batch_size=4, epochs=2, warmup_epochs=0, precision="amp_bf16", max_steps=1
    )
    assert torch.isfinite(torch.tensor(hist[0]["loss"]))
    assert not torch.equal(before, learner.ctx.detach())  # one bf16 step moved the context
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize(
    "method", ["clip_adapter", "tip_adapter", "tip_adapter_f", "linear_probe", "lp_plusplus", "zeroshot"]
)
def test_adapters_fit_under_bf16(method):
    model, _, tok = medclip.create_model("medclip-tiny")
    views, y, val = _data()
    pred = fit_fewshot(
        _cfg(method, precision="amp_bf16"), model, tok, CLASSES, train_views=views, train_labels=y, val=val, seed=1
    )
    logits = pred.predict_logits(val.features)
    assert logits.shape == (6, 3) and torch.isfinite(logits).all()
    if method == "clip_adapter":
        assert {n for n, p in pred.module.named_parameters() if p.requires_grad} == {
            "adapter.0.weight",
            "adapter.2.weight",
        }
    if method == "tip_adapter_f":
        assert {n for n, p in pred.module.named_parameters()} == {"cache_keys.weight"}


def test_selection_code_only_sees_val(tower):
    model, tok = tower
    views, y, val = _data()
    leaked = ValSplit(val.features, val.labels, split="test")
    for method in ("tip_adapter", "tip_adapter_f", "linear_probe", "coop"):
        with pytest.raises(AssertionError, match="validation split"):
            fit_fewshot(_cfg(method), model, tok, CLASSES, train_views=views, train_labels=y, val=leaked)


def test_prograd_teacher_is_frozen_zero_shot_model(tower):
    model, tok = tower
    learner = build_prompt_learner(_cfg("prograd"), model, tok, CLASSES)
    f = F.normalize(torch.randn(4, 64), dim=-1)
    t0 = learner.teacher_logits(f)
    with torch.no_grad():
        learner.ctx.add_(torch.randn_like(learner.ctx))  # changing the prompts must not move the teacher
    assert torch.equal(t0, learner.teacher_logits(f))
    w0 = F.normalize(model.encode_text(tok([f"a photo of a {c}." for c in CLASSES])).float(), dim=-1)
    assert torch.allclose(t0, learner.scale * f @ w0.t(), atol=1e-4)


def test_prograd_zero_kl_gradient_at_word_init(tower):
    model, tok = tower
    learner = build_prompt_learner(_cfg("prograd"), model, tok, CLASSES)
    f, y = F.normalize(torch.randn(4, 64), dim=-1), torch.tensor([0, 1, 2, 0])
    out = learner.loss(f, y)
    h = torch.autograd.grad(out["kl"], learner.ctx, retain_graph=True)[0]
    g = torch.autograd.grad(out["ce"], learner.ctx, retain_graph=True)[0]
    assert h.norm() < 1e-5  # student == teacher at step 0: the guard keeps g
    learner.backward(out)
    assert torch.allclose(learner.ctx.grad, g) and torch.isfinite(learner.ctx.grad).all()


def test_text_dropout_mode_is_explicit(tower):
    model, tok = tower
    seen = []
    for flag in (False, True):
        cfg = _cfg("coop")
        cfg.prompt.text_dropout = flag
        learner = build_prompt_learner(cfg, model, tok, CLASSES)
        model.train()  # whatever the caller left, the loop sets the mode each epoch
        orig = learner.loss

        def spy(f, y, orig=orig):
            text = model.text if hasattr(model, "text") else model.transformer
            seen.append((text.training, model.visual.training))
            return orig(f, y)

        learner.loss = spy
        views, y, _ = _data()
        train_learner(learner, views, y, lr=0.001, batch_size=4, epochs=1)
        model.eval()
    assert seen[0] == (False, True) or seen[0][0] is False
    assert seen[-1][0] is True


def test_bank_validation_errors(tower):
    model, tok = tower
    with pytest.raises(ValueError, match="no entry for class"):
        build_prompt_learner(_cfg("biomedcoop"), model, tok, CLASSES, bank={"pneumonia": ["x"] * 9})
    short = dict(BANK, pneumonia=["one", "two"])
    with pytest.raises(ValueError, match="'pneumonia' has 2 descriptions, 5 needed"):
        build_prompt_learner(_cfg("biomedcoop"), model, tok, CLASSES, bank=short)


def test_transfer_to_novel_classes_keeps_learned_context(tower):
    model, tok = tower
    views, y, val = _data()
    cfg = _cfg("biomedcoop")
    pred = fit_fewshot(cfg, model, tok, CLASSES, train_views=views, train_labels=y, val=val, bank=BANK)
    novel = transfer(pred, cfg, model, tok, ["glaucoma", "brain tumor"])
    assert torch.equal(novel.module.ctx, pred.module.ctx)
    assert novel.predict_logits(val.features).shape == (6, 2)


def test_reference_ctx_importer(tmp_path):
    from medclip.fewshot.methods.biomedcoop import load_reference_ctx

    ctx = torch.randn(4, 768)
    torch.save({"state_dict": {"prompt_learner.ctx": ctx, "other": torch.zeros(1)}, "epoch": 100}, tmp_path / "m.tar")
    assert torch.equal(load_reference_ctx(str(tmp_path / "m.tar")), ctx)
    torch.save({"x": ctx}, tmp_path / "bad.tar")
    with pytest.raises(ValueError, match="no 'prompt_learner.ctx'"):
        load_reference_ctx(str(tmp_path / "bad.tar"))


PROMPTS = [[f"a scan of {c}.", f"{c}, clinical image."] for c in CLASSES]


def _ensemble(model, tok):
    w = torch.stack([F.normalize(model.encode_text(tok(p)).float(), dim=-1).mean(0) for p in PROMPTS])
    return F.normalize(w, dim=-1)


@pytest.mark.parametrize("method", ["kgcoop", "prograd", "clip_adapter", "tip_adapter"])
def test_zs_prior_suite_uses_the_prompt_ensemble(tower, method):
    model, tok = tower
    model.eval()
    views, y, val = _data()
    cfg = _cfg(method, epochs=1)
    cfg.zs_prior = "suite"
    with torch.no_grad():
        want = _ensemble(model, tok)
    pred = fit_fewshot(cfg, model, tok, CLASSES, train_views=views, train_labels=y, val=val, class_prompts=PROMPTS)
    if method in ("kgcoop", "prograd"):
        assert torch.allclose(pred.module.w0, want, atol=1e-5)
    elif method == "clip_adapter":
        assert torch.allclose(pred.module.text_weights, want, atol=1e-5)
    else:  # Tip-Adapter's zero-shot term uses the prior: recompute its logits from the ensemble by hand
        from medclip.fewshot.methods.tip_adapter import build_cache, tip_logits

        keys, values = build_cache(views, y, len(CLASSES))
        a, b, f = pred.info["residual_ratio"], pred.info["sharpness"], val.features
        want_logits = tip_logits(f, keys, values, want, frozen_scale(model), a, b)
        assert torch.allclose(pred.predict_logits(f), want_logits, atol=1e-4)
    cfg.zs_prior = "template"
    tmpl = fit_fewshot(cfg, model, tok, CLASSES, train_views=views, train_labels=y, val=val, class_prompts=PROMPTS)
    if method in ("kgcoop", "prograd"):
        w1 = F.normalize(model.encode_text(tok([f"a photo of a {c}." for c in CLASSES])).float(), dim=-1)
        assert torch.allclose(tmpl.module.w0, w1, atol=1e-5)


def test_zs_prior_errors():
    model, _, tok = medclip.create_model("medclip-tiny")
    views, y, val = _data()
    cfg = _cfg("kgcoop")
    cfg.zs_prior = "suite"
    with pytest.raises(ValueError, match="class prompts"):
        fit_fewshot(cfg, model, tok, CLASSES, train_views=views, train_labels=y, val=val)
    from medclip.config import ConfigError

    cfg.zs_prior = "ensemble"
    with pytest.raises(ConfigError, match="zs_prior must be template or suite"):
        cfg.validate()


def test_methods_without_a_prior_do_not_need_the_suite_prompts():
    model, _, tok = medclip.create_model("medclip-tiny")
    views, y, val = _data()
    for method in ("coop", "linear_probe"):
        cfg = _cfg(method, epochs=1)
        cfg.zs_prior = "suite"  # irrelevant to these methods: no class prompts needed
        pred = fit_fewshot(cfg, model, tok, CLASSES, train_views=views, train_labels=y, val=val)
        assert pred.predict_logits(val.features).shape == (6, 3)
