"""Foreign checkpoint loading: fork / DDP / compile key layouts and the explicit key report."""

import pytest
import torch

import medclip
from medclip.models import load_weights


def _fork_style_state_dict(model):
    """What a DDP-trained open_clip fork with an old transformers writes."""
    sd = {f"module.{k}": v.clone() for k, v in model.state_dict().items()}
    sd["module.text.transformer.embeddings.position_ids"] = torch.arange(32)[None]
    return sd


def test_fork_checkpoint_loads_into_stock_model_and_reports_keys(tmp_path):
    src, _, tok = medclip.create_model("medclip-tiny-hf")
    torch.manual_seed(1)
    dst, _, _ = medclip.create_model("medclip-tiny-hf")
    path = tmp_path / "unimed_like.pt"
    torch.save({"state_dict": _fork_style_state_dict(src), "epoch": 10}, path)
    report = load_weights(dst, str(path))
    assert report.missing == [] and report.unexpected == []
    assert report.dropped == ["module.text.transformer.embeddings.position_ids"]
    assert len(report.loaded) == len(src.state_dict())
    x, ids = torch.randn(2, 3, 64, 64), tok(["a", "b"])
    with torch.no_grad():
        torch.testing.assert_close(dst.encode_image(x), src.encode_image(x), atol=0, rtol=0)
        torch.testing.assert_close(dst.encode_text(ids), src.encode_text(ids), atol=0, rtol=0)


def test_partial_checkpoint_is_reported_not_silent():
    src, _, _ = medclip.create_model("medclip-tiny")
    dst, _, _ = medclip.create_model("medclip-tiny")
    vision_only = {k: v for k, v in src.state_dict().items() if k.startswith("visual.")}
    vision_only["_orig_mod.extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"missing \d+, unexpected 1"):
        load_weights(dst, vision_only)
    report = load_weights(dst, vision_only, strict=False)
    assert report.unexpected == ["extra.weight"]
    assert report.missing and all(not k.startswith("visual.") for k in report.missing)
    assert "missing" in report.summary()


def test_shape_mismatch_names_the_key():
    dst, _, _ = medclip.create_model("medclip-tiny")
    bad = dict(dst.state_dict())
    bad["logit_scale"] = torch.zeros(3)
    with pytest.raises(ValueError, match="logit_scale"):
        load_weights(dst, bad)
