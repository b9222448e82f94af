"""Splice contract (spec §3.9, T-S1..T-S4) for both text-tower kinds: open_clip causal and HF BERT."""

import pytest
import torch

import medclip
from medclip.fewshot.splice import SplicedTextEncoder

CLASSES = ["pneumonia", "pleural effusion", "kidney stone", "diabetic retinopathy"]


@pytest.fixture(scope="module", params=["medclip-tiny", "medclip-tiny-hf"])
def tower(request):
    model, _, tok = medclip.create_model(request.param)
    return request.param, model.eval(), tok


def _literal(position, name):
    return {"end": f"a photo of a {name}.", "middle": f"a photo {name} of a.", "front": f"{name} a photo of a."}[
        position
    ]


@pytest.mark.parametrize("position", ["end", "middle", "front"])
def test_ts1_ts3_spliced_equals_literal_text(tower, position):
    _, model, tok = tower
    enc = SplicedTextEncoder(model, tok, CLASSES, ctx_init="a photo of a", position=position)
    assert enc.n_ctx == 4 and enc.ctx_shape == (4, enc.D)
    texts = [_literal(position, c) for c in CLASSES]
    with torch.no_grad():
        got = enc.encode(enc.init_ctx())
        ref = model.encode_text(tok(texts))
        # the spliced token sequence itself equals the embedding of the rearranged text
        ids = tok(texts)[:, : enc.ids.shape[1]]
        emb = enc._token_embedding()(ids)
        seq = enc.spliced_embeddings(enc.init_ctx().expand(len(CLASSES), -1, -1), torch.arange(len(CLASSES)))
    assert (got - ref).abs().max().item() < 1e-5
    assert torch.allclose(seq, emb, atol=0, rtol=0)


def test_ts3_name_len_is_subword_count(tower):
    name, model, tok = tower
    enc = SplicedTextEncoder(model, tok, CLASSES, ctx_init="a photo of a")
    pad = 0
    expected = [int((tok([c])[0] != pad).sum()) - 2 for c in CLASSES]
    assert enc.name_len.tolist() == expected
    assert max(expected) > 1  # multi-piece names are exercised (P8)
    if name == "medclip-tiny-hf":
        hf = tok.tokenizer
        assert expected == [len(hf(c, add_special_tokens=False)["input_ids"]) for c in CLASSES]


def test_ts2_truncation_is_exact(tower):
    _, model, tok = tower
    gen = torch.Generator().manual_seed(0)
    full = SplicedTextEncoder(model, tok, CLASSES, n_ctx=3, truncate=False)
    cut = SplicedTextEncoder(model, tok, CLASSES, n_ctx=3, truncate=True)
    assert cut.ids.shape[1] < full.ids.shape[1]
    ctx = full.init_ctx(gen)
    with torch.no_grad():
        assert (full.encode(ctx) - cut.encode(ctx)).abs().max().item() < 1e-5


def test_ts4_gradients_reach_only_ctx(tower):
    _, model, tok = tower
    enc = SplicedTextEncoder(model, tok, CLASSES, ctx_init="a photo of a", csc=True, position="middle")
    ctx = torch.nn.Parameter(enc.init_ctx())
    assert ctx.shape == (len(CLASSES), 4, enc.D)
    enc.encode(ctx).pow(2).sum().backward()
    assert ctx.grad is not None and ctx.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in model.parameters())
    assert list(enc.parameters()) == [] and enc.state_dict() == {}


def test_per_image_encoding_matches_and_chunks(tower):
    _, model, tok = tower
    enc = SplicedTextEncoder(model, tok, CLASSES, n_ctx=2)
    ctx_b = torch.randn(3, 2, enc.D) * 0.02
    with torch.no_grad():
        a = enc.encode_per_image(ctx_b, chunk_size=5)
        b = torch.stack([enc.encode(c) for c in ctx_b])
    assert a.shape == (3, len(CLASSES), b.shape[-1])
    assert (a - b).abs().max().item() < 1e-5


def test_bad_arguments_are_clear_errors(tower):
    _, model, tok = tower
    with pytest.raises(ValueError, match="n_ctx=3 but ctx_init"):
        SplicedTextEncoder(model, tok, CLASSES, n_ctx=3, ctx_init="a photo of a")
    with pytest.raises(ValueError, match="position"):
        SplicedTextEncoder(model, tok, CLASSES, n_ctx=2, position="left")
    with pytest.raises(ValueError, match="n_ctx"):
        SplicedTextEncoder(model, tok, CLASSES)
