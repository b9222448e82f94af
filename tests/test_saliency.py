"""Grad-CAM saliency on the tiny open_clip ViT, checked against an independent manual computation."""

import numpy as np
import pytest
import torch

import medclip
from medclip.saliency import SALIENCY, saliency_map
from medclip.saliency.gradcam import gradcam_grid


@pytest.fixture(scope="module")
def tiny():
    model, _, tok = medclip.create_model("medclip-tiny")
    return model.eval(), tok


def _image(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, 3, 64, 64, generator=g)


def _reference_grid(model, image, text_emb):
    """Grad-CAM written out by hand: forward the tower piecewise, leaf tensor at the last block's input."""
    v = model.visual
    with torch.no_grad():
        x = v._embeds(image)
        for blk in v.transformer.resblocks[:-1]:
            x = blk(x)
    leaf = x.detach().requires_grad_(True)
    y = v.transformer.resblocks[-1](leaf)
    pooled, _ = v._pool(y)
    emb = pooled @ v.proj
    img = emb[0] / emb[0].norm()
    txt = text_emb / text_emb.norm()
    score = model.logit_scale.exp() * (img * txt).sum()
    (grad,) = torch.autograd.grad(score, leaf)
    acts = leaf[0, 1:].detach().numpy().astype(np.float64)  # tiny model: one class token, no registers
    grads = grad[0, 1:].numpy().astype(np.float64)
    cam = np.maximum(acts @ grads.mean(axis=0), 0.0)
    return cam.reshape(v.grid_size)


def _naive_bilinear(grid, out_h, out_w):
    """Half-pixel-centre bilinear resize with edge clamping, one output pixel at a time."""
    in_h, in_w = grid.shape
    out = np.zeros((out_h, out_w))
    for i in range(out_h):
        sy = min(max((i + 0.5) * in_h / out_h - 0.5, 0.0), in_h - 1)
        y0 = int(np.floor(sy))
        y1, wy = min(y0 + 1, in_h - 1), sy - y0
        for j in range(out_w):
            sx = min(max((j + 0.5) * in_w / out_w - 0.5, 0.0), in_w - 1)
            x0 = int(np.floor(sx))
            x1, wx = min(x0 + 1, in_w - 1), sx - x0
            top = grid[y0, x0] * (1 - wx) + grid[y0, x1] * wx
            bot = grid[y1, x0] * (1 - wx) + grid[y1, x1] * wx
            out[i, j] = top * (1 - wy) + bot * wy
    return out


def _text(model, tok, prompt):
    with torch.no_grad():
        return model.encode_text(tok([prompt]))[0]


def test_shape_range_finite(tiny):
    model, tok = tiny
    sal = saliency_map(model, _image(), "pleural effusion", tokenizer=tok)
    assert sal.shape == (64, 64) and sal.dtype == np.float32
    assert np.isfinite(sal).all()
    assert sal.min() == pytest.approx(0.0) and sal.max() == pytest.approx(1.0)


def test_grid_matches_manual_reference(tiny):
    model, tok = tiny
    image, emb = _image(1), _text(model, tok, "a chest x-ray showing pneumonia")
    ours = gradcam_grid(model, image, emb).numpy()
    ref = _reference_grid(model, image, emb)
    assert ref.max() > 0
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-6 * ref.max())


def test_full_map_is_upsampled_normalised_grid(tiny):
    model, tok = tiny
    image, emb = _image(2), _text(model, tok, "cardiomegaly")
    ref = _naive_bilinear(_reference_grid(model, image, emb), 64, 64)
    ref = (ref - ref.min()) / (ref.max() - ref.min())
    np.testing.assert_allclose(saliency_map(model, image, emb, method="gradcam"), ref, atol=1e-4)


def test_prompt_string_equals_its_embedding(tiny):
    model, tok = tiny
    image = _image(3)
    by_prompt = saliency_map(model, image, "nodule", tokenizer=tok)
    by_emb = saliency_map(model, image, _text(model, tok, "nodule"))
    np.testing.assert_allclose(by_prompt, by_emb, atol=1e-6)


def test_two_classes_give_different_maps(tiny):
    """The known CLIP-saliency failure is a prompt-independent map; two classes on one image must differ."""
    model, tok = tiny
    image = _image(4)
    a = saliency_map(model, image, "pleural effusion", tokenizer=tok)
    b = saliency_map(model, image, "no finding", tokenizer=tok)
    assert np.abs(a - b).max() > 0.05
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] < 0.99


def test_frozen_weights_no_side_effects(tiny):
    model, tok = tiny
    emb = _text(model, tok, "edema")
    image = _image(5)
    expected = saliency_map(model, image, emb)
    flags = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.grad = None
    model.requires_grad_(False)
    model.train()
    try:
        got = saliency_map(model, image, emb)
        assert model.training  # mode restored
        assert all(p.grad is None for p in model.parameters())  # no gradients accumulated on the weights
    finally:
        for p, f in zip(model.parameters(), flags):
            p.requires_grad_(f)
        model.eval()
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_unknown_method_close_match(tiny):
    model, tok = tiny
    with pytest.raises(ValueError, match=r"unknown saliency method 'gradcm'.*Did you mean: gradcam"):
        saliency_map(model, _image(), "x", tokenizer=tok, method="gradcm")
    assert "gradcam" in SALIENCY.names()
    assert SALIENCY.meta("gradcam")["paper"] == "Selvaraju et al. 2017"


def test_bad_inputs(tiny):
    model, tok = tiny
    with pytest.raises(ValueError, match="tokenizer"):
        saliency_map(model, _image(), "effusion")
    with pytest.raises(ValueError, match=r"\[1, 3, H, W\]"):
        saliency_map(model, torch.randn(3, 64, 64), "effusion", tokenizer=tok)
    with pytest.raises(ValueError, match="1-D"):
        saliency_map(model, _image(), torch.randn(2, 64))
    with pytest.raises(ValueError, match="VisionTransformer"):
        from medclip.saliency.gradcam import gradcam

        gradcam(torch.nn.Linear(2, 2), _image(), torch.randn(64))


def test_planted_patch_is_where_the_map_peaks(tiny):
    """Only patch (1, 2) carries activation into the last block: the map must light up there and nowhere
    else beyond the bilinear footprint; flipping the class embedding flips the score's gradient, so exactly
    one of the two signs survives the ReLU."""
    model, tok = tiny
    grid_h, grid_w = model.visual.grid_size
    row, col = 1, 2
    keep = torch.zeros(1, 1 + grid_h * grid_w, 1)
    keep[0, 0] = 1.0  # class token
    keep[0, 1 + row * grid_w + col] = 1.0

    def plant(_module, args):
        return (args[0] * keep,) + tuple(args[1:])

    handle = model.visual.transformer.resblocks[-1].register_forward_pre_hook(plant)
    try:
        emb = _text(model, tok, "pneumothorax")
        maps = [saliency_map(model, _image(6), sign * emb, method="gradcam") for sign in (1.0, -1.0)]
    finally:
        handle.remove()
    lit = [m for m in maps if m.max() > 0]
    assert len(lit) == 1 and all(m.max() == 0 for m in maps if m is not lit[0])
    sal, p = lit[0], 64 // grid_h
    r0, c0 = row * p, col * p
    peak = np.unravel_index(np.argmax(sal), sal.shape)
    assert r0 <= peak[0] < r0 + p and c0 <= peak[1] < c0 + p
    outside = np.ones_like(sal, dtype=bool)
    outside[max(r0 - p // 2, 0) : r0 + p + p // 2, max(c0 - p // 2, 0) : c0 + p + p // 2] = False
    assert np.all(sal[outside] == 0)
