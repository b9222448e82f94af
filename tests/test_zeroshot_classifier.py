"""ZeroShotClassifier: closed-form answers with a fake model, every input type, a real tiny model."""

import math

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import functional as TF

import medclip
from medclip.zeroshot_head import build_text_classifier
from zeroshot import ZeroShotClassifier
from zeroshot.classifier import expand_prompts, to_pil

# prompt -> text embedding (not unit norm on purpose: the head normalizes each prompt)
TEXT = {
    "red thing.": [2.0, 0.0, 0.0],
    "crimson thing.": [0.0, 0.0, 3.0],
    "green thing.": [0.0, 1.0, 0.0],
    "verdant thing.": [0.0, 1.0, 1.0],
}


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread (and one BLAS thread): on 2 busy cores, 2 threads spin-wait ~50x slower."""
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(before)


class FakeModel(torch.nn.Module):
    """encode_image = per-channel mean of the input; encode_text = a lookup table; logit scale 10."""

    def __init__(self):
        super().__init__()
        self.table = torch.tensor(list(TEXT.values()))
        self.logit_scale = torch.nn.Parameter(torch.tensor(math.log(10.0)))

    def encode_image(self, x, normalize=False):
        return x.float().mean(dim=(2, 3))

    def encode_text(self, ids, normalize=False):
        return self.table[ids[:, 0]]


def fake_tokenizer(texts):
    keys = list(TEXT)
    return torch.tensor([[keys.index(t)] for t in texts])


def to_tensor(img):
    return TF.to_tensor(img.convert("RGB"))


def closed_form(rgb):
    """Class embeddings: normalize(mean of unit prompt vectors), then cos and softmax(10 * cos)."""
    red = np.array([1.0, 0.0, 1.0]) / math.sqrt(2)  # mean of e0 and e2, renormalized
    green = np.array([0.0, 1.0 + 1 / math.sqrt(2), 1 / math.sqrt(2)])
    green /= np.linalg.norm(green)
    f = np.asarray(rgb, dtype=float) / 255.0
    f /= np.linalg.norm(f)
    cos = np.array([f @ red, f @ green])
    p = np.exp(10 * cos) / np.exp(10 * cos).sum()
    return cos, p


@pytest.fixture
def clf():
    return ZeroShotClassifier(
        FakeModel(), fake_tokenizer, [["red", "crimson"], ["green", "verdant"]], ["{} thing."], preprocess=to_tensor
    )


def test_closed_form_probabilities(clf):
    colors = [(200, 30, 10), (10, 200, 60), (90, 90, 90)]
    imgs = [Image.new("RGB", (8, 8), c) for c in colors]
    cos = clf.cosine(imgs)
    proba = clf.predict_proba(imgs)
    for i, c in enumerate(colors):
        ref_cos, ref_p = closed_form(c)
        np.testing.assert_allclose(cos[i], ref_cos, atol=1e-5)
        np.testing.assert_allclose(proba[i], ref_p, atol=1e-5)
    np.testing.assert_allclose(clf.logits(imgs), 10 * cos, rtol=1e-5)
    assert clf.predict(imgs).tolist() == [0, 1, int(closed_form(colors[2])[0].argmax())]
    assert clf.classnames == ["red", "green"]
    assert clf.class_prompts[0] == ["red thing.", "crimson thing."]


def test_every_input_type_agrees(clf):
    rgb = (180, 40, 200)
    ref = closed_form(rgb)[1]
    arr = np.full((6, 5, 3), rgb, dtype=np.uint8)
    inputs = {
        "pil": Image.new("RGB", (5, 6), rgb),
        "uint8_hwc": arr,
        "float_hwc": arr.astype(np.float32) / 255.0,
        "tensor_chw": to_tensor(Image.fromarray(arr)),
        "tensor_nchw": to_tensor(Image.fromarray(arr))[None].repeat(3, 1, 1, 1),
        "list": [Image.fromarray(arr), arr],
    }
    for name, x in inputs.items():
        p = clf.predict_proba(x)
        np.testing.assert_allclose(p, np.tile(ref, (len(p), 1)), atol=2e-3, err_msg=name)
    gray = np.full((4, 4), 77, dtype=np.uint8)  # HxW -> equal channels -> cos to (1,1,1)/sqrt(3)
    np.testing.assert_allclose(clf.predict_proba(gray)[0], closed_form((77, 77, 77))[1], atol=1e-5)
    np.testing.assert_allclose(clf.predict_proba(gray[:, :, None])[0], closed_form((77, 77, 77))[1], atol=1e-5)


def test_bad_inputs(clf):
    with pytest.raises(ValueError, match="HxW"):
        clf.predict(np.zeros((4, 4, 2), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        to_pil(np.full((4, 4), 300, dtype=np.int32))
    with pytest.raises(TypeError):
        clf.predict("image.png")
    with pytest.raises(ValueError, match="templates is empty"):
        ZeroShotClassifier(FakeModel(), fake_tokenizer, ["red"], [], preprocess=to_tensor)
    assert to_pil(np.array([[2.0, -1.0]])).getpixel((0, 0)) == (255, 255, 255)  # floats clipped to [0, 1]


def test_expand_prompts_order():
    assert expand_prompts(["a", "b"], ["x {}", "{} y", "plain"]) == ["x a", "a y", "plain", "x b", "b y", "plain"]


def test_tiny_model_matches_text_head():
    torch.manual_seed(0)
    model, preprocess, tok = medclip.create_model("medclip-tiny")
    names = [["pneumonia", "lung infection"], "normal", "effusion"]
    templates = ["a chest x-ray with {}.", "{} on radiograph."]
    clf = ZeroShotClassifier(model, tok, names, templates)
    head = build_text_classifier(model, tok, [expand_prompts(n, templates) for n in names])
    torch.testing.assert_close(clf.class_embeddings, head)
    rng = np.random.default_rng(0)
    imgs = [Image.fromarray(rng.integers(0, 255, (70, 90, 3), dtype=np.uint8)) for _ in range(4)]
    p = clf.predict_proba(imgs)
    assert p.shape == (4, 3)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-9)
    assert (clf.predict(imgs) == p.argmax(1)).all()
    with torch.no_grad():
        f = model.encode_image(torch.stack([preprocess(i) for i in imgs]), normalize=True)
    np.testing.assert_allclose(clf.cosine(imgs), (f @ head.T).numpy(), atol=1e-5)


def test_trimmed_text_padding_gives_the_same_head():
    from medclip.zeroshot_head import supports_trimmed_text, trim_padding

    torch.manual_seed(0)
    model, _, tok = medclip.create_model("medclip-tiny-hf")
    assert supports_trimmed_text(model)
    prompts = ["a chest x-ray showing pneumonia.", "an example of a normal abdominal ct with several words.", "x"]
    ids = tok(prompts)
    short = trim_padding(ids)
    assert short.shape[1] < ids.shape[1] and torch.equal(short, ids[:, : short.shape[1]])
    assert not ids[:, short.shape[1] :].any()
    with torch.no_grad():
        torch.testing.assert_close(model.encode_text(short), model.encode_text(ids), atol=1e-5, rtol=0)
    assert trim_padding(torch.ones(2, 5, dtype=torch.long)).shape == (2, 5)  # no padding: unchanged
