"""The Grad-CAM variants (contrastive target, earlier blocks) and gradient-weighted attention rollout, each
checked against a by-hand computation on the tiny open_clip ViT."""

import numpy as np
import pytest
import torch

import medclip
from medclip.saliency import DEFAULT_METHOD, FALLBACK_METHOD, SALIENCY, saliency_map
from medclip.saliency.gradcam import gradcam_grid
from medclip.saliency.rollout import rollout_grid


@pytest.fixture(scope="module")
def tiny():
    model, _, tok = medclip.create_model("medclip-tiny")
    return model.eval(), tok


def _image(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, 3, 64, 64, generator=g)


def _classes(model, tok):
    with torch.no_grad():
        return model.encode_text(tok(["pleural effusion", "no finding", "cardiomegaly", "nodule"]))


def _score(model, emb, txt, classes, contrast):
    """Hand-written score: scale * cos, or minus the logsumexp over the other classes' scaled cosines."""
    scale = model.logit_scale.exp()
    img = emb / emb.norm()
    s = scale * (img * txt / txt.norm()).sum()
    if not contrast:
        return s
    others = [c for c in classes if not torch.allclose(c, txt)]
    o = torch.stack([scale * (img * c / c.norm()).sum() for c in others])
    return s - torch.log(torch.exp(o - o.max()).sum()) - o.max()


def _reference_grid(model, image, txt, classes, contrast, block, token=False):
    """Grad-CAM by hand with the leaf tensor at the input of resblocks[block]."""
    v = model.visual
    blocks = list(v.transformer.resblocks)
    k = block % len(blocks)
    with torch.no_grad():
        x = v._embeds(image)
        for blk in blocks[:k]:
            x = blk(x)
    leaf = x.detach().requires_grad_(True)
    y = leaf
    for blk in blocks[k:]:
        y = blk(y)
    pooled, _ = v._pool(y)
    score = _score(model, (pooled @ v.proj)[0], txt, classes, contrast)
    (grad,) = torch.autograd.grad(score, leaf)
    acts = leaf[0, 1:].detach().numpy().astype(np.float64)  # tiny model: one class token, no registers
    grads = grad[0, 1:].numpy().astype(np.float64)
    cam = np.maximum((acts * grads).sum(axis=1) if token else acts @ grads.mean(axis=0), 0.0)
    return cam.reshape(v.grid_size)


@pytest.mark.parametrize("contrast", [False, True])
@pytest.mark.parametrize("block", [-1, -2])
def test_gradcam_variants_match_manual_reference(tiny, contrast, block):
    model, tok = tiny
    image, classes = _image(1), _classes(model, tok)
    target = "contrast" if contrast else "similarity"
    ours = gradcam_grid(model, image, classes[0], classes=classes, target=target, blocks=(block,)).numpy()
    ref = _reference_grid(model, image, classes[0], classes, contrast, block)
    assert ref.max() > 0
    np.testing.assert_allclose(ours, ref, rtol=1e-3, atol=1e-5 * ref.max())


@pytest.mark.parametrize("block", [-1, -2])
def test_token_weighting_matches_manual_reference(tiny, block):
    model, tok = tiny
    image, classes = _image(5), _classes(model, tok)
    ours = gradcam_grid(model, image, classes[2], blocks=(block,), weighting="token")
    ref = _reference_grid(model, image, classes[2], classes, False, block, token=True)
    assert ref.max() > 0
    # per-token sums over channels cancel heavily on the untrained tiny model: compare at 3 % of the peak
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=3e-2 * ref.max())
    assert np.corrcoef(ours.numpy().ravel(), ref.ravel())[0, 1] > 0.99
    with pytest.raises(ValueError, match="weighting"):
        gradcam_grid(model, image, classes[2], weighting="max")


def test_contrast_differs_from_similarity_and_multi_block_is_mean_of_normalised(tiny):
    model, tok = tiny
    image, classes = _image(2), _classes(model, tok)
    sim = gradcam_grid(model, image, classes[0]).numpy()
    con = gradcam_grid(model, image, classes[0], classes=classes, target="contrast").numpy()
    assert np.abs(sim / max(sim.max(), 1e-12) - con / max(con.max(), 1e-12)).max() > 0.05
    per = [_reference_grid(model, image, classes[0], classes, False, b) for b in (-2, -1)]
    ref = np.mean([p / p.max() for p in per], axis=0)
    ours = gradcam_grid(model, image, classes[0], blocks=(-1, -2)).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-3, atol=1e-5)


def _reference_rollout(model, image, txt, classes, contrast):
    """Chefer et al. 2021 by hand: attention per head in a loop, R <- R + mean_h relu(grad * A) @ R."""
    v = model.visual
    x = v._embeds(image)
    attns = []
    for blk in v.transformer.resblocks:
        mha = blk.attn
        h_in = blk.ln_1(x)[0]  # [N, C]
        n, c = h_in.shape
        d = c // mha.num_heads
        qkv = h_in @ mha.in_proj_weight.T + mha.in_proj_bias
        heads = []
        for hd in range(mha.num_heads):
            q = qkv[:, hd * d : (hd + 1) * d]
            k = qkv[:, c + hd * d : c + (hd + 1) * d]
            val = qkv[:, 2 * c + hd * d : 2 * c + (hd + 1) * d]
            a = torch.softmax(q @ k.T / d**0.5, dim=-1)
            a.retain_grad()
            attns.append(a)
            heads.append(a @ val)
        x = x + blk.ls_1(mha.out_proj(torch.cat(heads, dim=-1)))[None]
        x = x + blk.ls_2(blk.mlp(blk.ln_2(x)))
    pooled, _ = v._pool(x)
    _score(model, (pooled @ v.proj)[0], txt, classes, contrast).backward()
    model.zero_grad(set_to_none=True)
    n = attns[0].shape[0]
    rel = torch.eye(n, dtype=torch.float64)
    nh = model.visual.transformer.resblocks[0].attn.num_heads
    for b in range(len(attns) // nh):
        hs = attns[b * nh : (b + 1) * nh]
        abar = sum(torch.relu(a.grad * a.detach()).double() for a in hs) / nh
        rel = rel + abar @ rel
    return rel[0, 1:].numpy().reshape(v.grid_size)


@pytest.mark.parametrize("contrast", [False, True])
def test_rollout_matches_manual_reference(tiny, contrast):
    model, tok = tiny
    image, classes = _image(3), _classes(model, tok)
    target = "contrast" if contrast else "similarity"
    ours = rollout_grid(model, image, classes[1], classes=classes, target=target).numpy()
    assert all(p.grad is None for p in model.parameters())  # no gradients left on the weights
    assert all("attention" not in vars(b) for b in model.visual.transformer.resblocks)  # swap undone
    ref = _reference_rollout(model, image, classes[1], classes, contrast)
    assert ref.max() > 0
    np.testing.assert_allclose(ours, ref, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("method", ["gradcam", "gradcam-contrast", "rollout", "rollout-contrast"])
def test_every_method_two_classes_differ_and_range(tiny, method):
    model, tok = tiny
    image, classes = _image(4), _classes(model, tok)
    a = saliency_map(model, image, classes[0], method=method, classes=classes)
    b = saliency_map(model, image, classes[2], method=method, classes=classes)
    assert a.shape == (64, 64) and a.dtype == np.float32 and a.min() >= 0 and a.max() == pytest.approx(1.0)
    assert np.abs(a - b).max() > 0.05


def test_contrast_methods_need_the_class_set(tiny):
    model, tok = tiny
    classes = _classes(model, tok)
    assert set(SALIENCY.names(needs_classes=True)) == {"gradcam-contrast", "rollout-contrast"}
    with pytest.raises(ValueError, match="pass classes"):
        saliency_map(model, _image(), classes[0], method="gradcam-contrast")
    with pytest.raises(ValueError, match="other than the target"):
        saliency_map(model, _image(), classes[0], method="gradcam-contrast", classes=classes[:1])
    with pytest.raises(ValueError, match="classes=\\[C, D\\]"):
        gradcam_grid(model, _image(), classes[0], target="contrast")


def test_default_is_rollout_contrast_with_classes_else_rollout(tiny):
    """The default is the best-measured method on the demo boxes (docs/saliency.md); callers that pass one class
    embedding only (the service) get the best method that needs no class set."""
    model, tok = tiny
    image, classes = _image(6), _classes(model, tok)
    assert (DEFAULT_METHOD, FALLBACK_METHOD) == ("rollout-contrast", "rollout")
    assert SALIENCY.meta(DEFAULT_METHOD)["needs_classes"] and not SALIENCY.meta(FALLBACK_METHOD)["needs_classes"]
    for kw, name in (({}, "rollout"), ({"classes": classes}, "rollout-contrast")):
        got = saliency_map(model, image, classes[0], **kw)
        np.testing.assert_array_equal(got, saliency_map(model, image, classes[0], method=name, **kw))
    con = saliency_map(model, image, classes[0], classes=classes)
    assert np.abs(con - saliency_map(model, image, classes[0])).max() > 0.05
