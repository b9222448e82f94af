"""One contract over every registered architecture (timm-style): shapes, norms, gradients, state dicts."""

import io

import open_clip
import pytest
import torch

import medclip
from medclip.models import get_model_config
from medclip.models.standin import standin_text_cfg

REAL_SIZE = {"biomedclip-vit-b16", "unimed-clip-vit-b16"}


def _build(name):
    if name in REAL_SIZE:
        cfg = get_model_config(name)
        # Same module tree as the real model; the HF tower comes from an offline BERT-base config.
        return medclip.create_model(name, pretrained_text=False, text_cfg=standin_text_cfg(cfg["text_cfg"]))
    return medclip.create_model(name)


def _contract_params():
    for name in medclip.list_models():
        marks = [pytest.mark.slow] if name in REAL_SIZE else []
        yield pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", _contract_params())
def test_registered_model_contract(name):
    torch.manual_seed(0)
    model, preprocess, tokenizer = _build(name)
    cfg = get_model_config(name)
    size = model.visual.image_size
    size = size if isinstance(size, (tuple, list)) else (size, size)
    assert tuple(size) == (cfg["vision_cfg"]["image_size"],) * 2
    images = torch.randn(2, 3, *size)
    tokens = tokenizer(["a chest x-ray with pneumonia", "normal brain mri"])
    assert tokens.shape == (2, cfg["text_cfg"]["context_length"])

    model.train()
    out = model(images, tokens)
    img, txt = out["image_features"], out["text_features"]
    assert img.shape == txt.shape == (2, cfg["embed_dim"])
    torch.testing.assert_close(img.norm(dim=-1), torch.ones(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(txt.norm(dim=-1), torch.ones(2), atol=1e-5, rtol=0)

    logits = out["logit_scale"] * img @ txt.T
    loss = torch.nn.functional.cross_entropy(logits, torch.arange(2)) + logits.mean() * 0
    loss.backward()
    missing = [
        n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)
    ]
    # The HF BERT pooler is not used by CLS-last-hidden-state / mean pooling, so it receives no gradient.
    missing = [n for n in missing if ".pooler.dense." not in n]
    assert not missing, f"parameters without gradient: {missing[:5]}"

    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    clone, _, _ = _build(name)
    clone.load_state_dict(torch.load(buf, weights_only=True), strict=True)
    model.eval()
    clone.eval()
    with torch.no_grad():
        a = model(images, tokens)
        b = clone(images, tokens)
    torch.testing.assert_close(a["image_features"], b["image_features"], atol=0, rtol=0)
    torch.testing.assert_close(a["text_features"], b["text_features"], atol=0, rtol=0)


def test_unknown_model_suggests_close_names():
    with pytest.raises(ValueError, match="Did you mean: medclip-small"):
        medclip.create_model("medclip-smal")


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="checkpoint not found"):
        medclip.create_model("medclip-tiny", pretrained=str(tmp_path / "nope.pt"))


def test_registered_names_visible_to_plain_open_clip(tmp_path):
    model, _, _ = medclip.create_model("medclip-tiny")
    path = tmp_path / "w.pt"
    torch.save({"name": "medclip-tiny", "state_dict": model.state_dict(), "epoch": 0, "step": 0}, path)
    oc_model, _, _ = open_clip.create_model_and_transforms("medclip-tiny", pretrained=str(path))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(oc_model.encode_image(x), model.encode_image(x))
    again, _, _ = medclip.models.create_model_from_checkpoint(str(path))
    assert isinstance(again, type(model))


def test_small_model_starts_from_pretrained_minilm():
    """The demo text tower is the real MiniLM: similar sentences are closer than unrelated ones."""
    from transformers import AutoModel, AutoTokenizer

    path = medclip.models.minilm_path()
    tok = AutoTokenizer.from_pretrained(path)
    bert = AutoModel.from_pretrained(path).eval()
    model, _, _ = medclip.create_model("medclip-small")
    sd = bert.state_dict()
    mine = model.text.transformer.state_dict()
    for k in ("embeddings.word_embeddings.weight", "encoder.layer.5.output.dense.weight"):
        torch.testing.assert_close(mine[k], sd[k])

    def emb(texts):
        batch = tok(texts, padding=True, return_tensors="pt")
        with torch.no_grad():
            h = bert(**batch).last_hidden_state
        m = batch["attention_mask"].unsqueeze(-1)
        return torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1)

    a, b, c = emb(["fluid in the pleural space", "pleural effusion", "a retinal photograph"])
    assert (a @ b) > (a @ c)


@pytest.mark.parametrize("name", sorted(REAL_SIZE))
def test_real_size_architectures_match_their_published_shape(name):
    """BiomedCLIP / UniMed-CLIP trees (spec §8): ViT-B/16 at 224, BERT-base text, CLS pooling, MLP 768-640-512."""
    model, _, tokenizer = _build(name)
    text = model.text
    assert type(text.pooler).__name__ == "ClsLastHiddenStatePooler"
    lin1, _, lin2 = text.proj
    assert (lin1.in_features, lin1.out_features, lin2.out_features) == (768, 640, 512)
    assert lin1.bias is None and lin2.bias is None
    assert text.transformer.config.num_hidden_layers == 12 and text.transformer.config.hidden_size == 768
    blocks = model.visual.trunk.blocks if hasattr(model.visual, "trunk") else model.visual.transformer.resblocks
    assert len(blocks) == 12
    assert model.visual.image_size in (224, (224, 224))
    ids = tokenizer(["pleural effusion"])
    assert ids.shape == (1, 256)
    with torch.no_grad():
        f = model.encode_image(torch.randn(1, 3, 224, 224), normalize=True)
        t = model.encode_text(ids, normalize=True)
    assert f.shape == t.shape == (1, 512)


def test_import_is_cheap_and_registers_with_open_clip():
    import subprocess
    import sys

    code = (
        "import sys, medclip, medclip.config; assert 'torch' not in sys.modules, 'import medclip pulled torch';"
        "import open_clip;"  # imported after medclip, without touching medclip.models: the hook registers
        "names = set(open_clip.list_models());"
        "assert {'medclip-tiny', 'medclip-small', 'biomedclip-vit-b16', 'unimed-clip-vit-b16'} <= names, names"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
