"""The contract every registered few-shot method keeps, run over the whole registry (no method list here).

For each method and both text-tower kinds (open_clip's own tower, an HF BERT tower): one short fit on
tiny cached features gives finite ``(N, C)`` logits, leaves the CLIP model frozen and unchanged, trains
exactly the parameters the method declares (``FewShotMethod.trainable``), and a base-to-novel method
transfers to other classes. A new method file is tested here without editing this file.
"""

import fnmatch

import pytest
import torch
import torch.nn.functional as F

import medclip
from medclip.fewshot import METHODS
from medclip.fewshot.config import config_class
from medclip.fewshot.fit import fit_fewshot, transfer
from medclip.fewshot.registry import get_method, method_meta
from medclip.fewshot.valsplit import ValSplit

CLASSES = ["pneumonia", "normal lungs", "kidney stone"]
NOVEL = ["fracture", "effusion"]
BANK = {c: [f"an image showing {c}, view {i}." for i in range(6)] for c in CLASSES}
TINY = [
    "optim.epochs=1",
    "optim.batch_size=4",
    "optim.max_steps=1",
    "optim.warmup_epochs=0",
    "biomedcoop.n_prompts=3",
    "linear_probe.Cs=[1.0]",
    "linear_probe.n_bisect=0",
    "tip.grid_steps=4",
    "lp_plusplus.epochs=2",
]


@pytest.fixture(scope="module", params=["medclip-tiny", "medclip-tiny-hf"])
def tower(request):
    model, _, tok = medclip.create_model(request.param)
    return model.eval().requires_grad_(False), tok


def _cfg(method):
    from medclip.config import apply_overrides, from_dict

    return from_dict(config_class(), apply_overrides({"method": method}, TINY))


def _data(d):
    g = torch.Generator().manual_seed(0)
    views = F.normalize(torch.randn(2, 9, d, generator=g), dim=-1)
    val = ValSplit(F.normalize(torch.randn(6, d, generator=g), dim=-1), torch.arange(6) % 3)
    return views, torch.arange(9) % 3, val


@pytest.mark.parametrize("method", list(METHODS))
def test_method_contract(tower, method):
    model, tok = tower
    d = _text_dim(model, tok)
    views, y, val = _data(d)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = _cfg(method)
    pred = fit_fewshot(
        cfg,
        model,
        tok,
        CLASSES,
        train_views=views,
        train_labels=y,
        val=val,
        bank=BANK if method_meta(method)["uses_bank"] else None,
        class_prompts=[[f"a photo of {c}.", f"{c}."] for c in CLASSES],
    )
    test = F.normalize(torch.randn(5, d), dim=-1)
    logits = pred.predict_logits(test)
    assert logits.shape == (5, len(CLASSES)) and torch.isfinite(logits).all()
    assert all(not p.requires_grad for p in model.parameters()), "fit unfroze the CLIP model"
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "fit changed the frozen CLIP model"

    patterns = get_method(method).trainable
    trained = [n for n, p in pred.module.named_parameters() if p.requires_grad] if pred.module is not None else []
    assert all(any(fnmatch.fnmatchcase(n, pat) for pat in patterns) for n in trained), (trained, patterns)
    assert all(any(fnmatch.fnmatchcase(n, pat) for n in trained) for pat in patterns), (trained, patterns)

    if method_meta(method)["base_to_novel"]:
        moved = transfer(pred, cfg, model, tok, NOVEL, [[f"a photo of {c}."] for c in NOVEL])
        out = moved.predict_logits(test)
        assert out.shape == (5, len(NOVEL)) and torch.isfinite(out).all()
    else:
        with pytest.raises(ValueError, match="no base-to-novel"):
            transfer(pred, cfg, model, tok, NOVEL)


def _text_dim(model, tok):
    with torch.no_grad():
        return int(model.encode_text(tok(["a"])).shape[-1])


def test_every_method_has_a_default_config_and_metadata():
    from medclip.fewshot.presets import default_file, resolve

    for method in METHODS:
        meta = method_meta(method)
        assert meta["test_cost"] in ("per_class", "per_image")
        assert default_file(method) is not None, f"{method}: no configs/fewshot/{method}.yaml"
        cfg, _ = resolve(method)
        if meta["config"] is not None:
            assert isinstance(getattr(cfg, meta["section"]), meta["config"])
