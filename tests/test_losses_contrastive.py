"""Contrastive losses against independent computations (numpy / explicit loops)."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from medclip.losses import create_loss, list_losses


def _feats(n=6, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (F.normalize(torch.randn(n, d, generator=g), dim=-1), F.normalize(torch.randn(n, d, generator=g), dim=-1))


def _np_log_softmax(x):
    x = x - x.max(axis=1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


def test_clip_loss_matches_explicit_infonce():
    img, txt = _feats()
    scale = torch.tensor(10.0)
    out = create_loss("clip")(image_features=img, text_features=txt, logit_scale=scale)
    logits = 10.0 * img.numpy() @ txt.numpy().T
    ref = -(np.diag(_np_log_softmax(logits)).mean() + np.diag(_np_log_softmax(logits.T)).mean()) / 2
    assert set(out) == {"contrastive_loss"}
    assert out["contrastive_loss"].item() == pytest.approx(ref, rel=1e-5)


def test_siglip_loss_matches_pairwise_sum():
    img, txt = _feats(5)
    s, b = torch.tensor(10.0), torch.tensor(-5.0)
    got = create_loss("siglip")(image_features=img, text_features=txt, logit_scale=s, logit_bias=b)
    logits = 10.0 * img.numpy() @ txt.numpy().T - 5.0
    ref = 0.0
    for i in range(5):
        for j in range(5):
            y = 1.0 if i == j else -1.0
            ref -= math.log(1 / (1 + math.exp(-y * logits[i, j])))
    assert got["contrastive_loss"].item() == pytest.approx(ref / 5, rel=1e-5)
    with pytest.raises(ValueError, match="logit_bias"):
        create_loss("siglip")(image_features=img, text_features=txt, logit_scale=s)


def test_multipos_equals_clip_without_shared_labels_and_uses_positives():
    img, txt = _feats(6)
    s = torch.tensor(7.0)
    clip = create_loss("clip")(image_features=img, text_features=txt, logit_scale=s)["contrastive_loss"]
    mp = create_loss("multipos")
    unique = mp(image_features=img, text_features=txt, logit_scale=s, label_ids=torch.arange(6))
    assert unique["contrastive_loss"].item() == pytest.approx(clip.item(), rel=1e-6)
    ids = torch.tensor([0, 0, 1, 1, 1, 2])
    got = mp(image_features=img, text_features=txt, logit_scale=s, label_ids=ids)["contrastive_loss"].item()
    logits = 7.0 * img.numpy() @ txt.numpy().T
    pos = (ids.numpy()[:, None] == ids.numpy()[None, :]).astype(float)
    target = pos / pos.sum(1, keepdims=True)
    ref = (-(target * _np_log_softmax(logits)).sum(1).mean() - (target * _np_log_softmax(logits.T)).sum(1).mean()) / 2
    assert got == pytest.approx(ref, rel=1e-5)


def test_unknown_loss_suggests_names():
    assert {"clip", "siglip", "multipos"} <= set(list_losses())
    with pytest.raises(ValueError, match="Did you mean: clip"):
        create_loss("clipp")
