"""Saliency evaluation: the demo generator's finding masks / boxes (and that recording them leaves the
images byte-identical), their JSON export, and the pointing-game / energy metrics against hand computations."""

import hashlib
import json

import numpy as np
import pytest
import torch

import medclip
from data_pipelines.cli import cli
from data_pipelines.sources.demo import DEMO_CLASSES, DEMO_SPLITS, DemoSource, DemoSourceConfig, class_index, render
from data_pipelines.sources.demo_boxes import render_with_finding
from data_pipelines.sources.demo_findings import FINDING_RULES, mask_box, recording
from medclip.saliency import saliency_map
from medclip.saliency.pointing import centre_map, energy_in_box, pointing_hit, random_map

# sha256 over render(ci, split, i, seed=0, size=96) for every class, split and i < 3, taken before the
# generator learned to record findings: recording must not change a single byte of the demo images
DEMO_GOLDEN = "ca36cb7c6d04e6e7aeefb53a019fafcbd52479a4835262d46d53005ce7eaa9a6"


def test_demo_images_unchanged_byte_for_byte():
    h = hashlib.sha256()
    for ci in range(len(DEMO_CLASSES)):
        for split in DEMO_SPLITS:
            for i in range(3):
                h.update(render(ci, split=split, index=i, seed=0, size=96).tobytes())
    assert h.hexdigest() == DEMO_GOLDEN


@pytest.mark.parametrize("ci", range(17))
def test_render_with_finding_same_image_and_mask_only_for_located_findings(ci):
    img, mask = render_with_finding(ci, split="test", index=1, size=64)
    assert np.array_equal(img, render(ci, split="test", index=1, size=64))
    if DEMO_CLASSES[ci].label in FINDING_RULES:
        assert mask is not None and mask.shape == (64, 64) and mask.dtype == bool
        assert 0 < mask.mean() < 0.6
    else:
        assert mask is None


@pytest.mark.parametrize(
    ("cls", "sign", "reference"),
    [
        (("ultrasound", "benign mass"), -1, "ring"),  # anechoic mass: darker than the tissue around it
        (("ultrasound", "malignant mass"), -1, "ring"),
        (("ct", "kidney stone"), 1, "ring"),  # calcified stone: brighter than the kidney around it
        (("ct", "liver lesion"), -1, "ring"),  # hypodense lesion
        (("xray", "cardiomegaly"), 1, "ring"),  # the heart is denser than the lungs beside it
        (("fundus", "glaucoma"), 1, "ring"),  # the pale cup inside the disc
        (("xray", "pneumonia"), 1, "mirror"),  # consolidation: brighter than the same place in the other lung
    ],
)
def test_masks_sit_on_the_drawn_finding(cls, sign, reference):
    """Independent of the mask code: the image inside the mask must differ, in the finding's direction, from
    a 4-pixel ring outside its box (or from the mirror-image region for a one-sided lung finding)."""
    for i in range(8):
        img, mask = render_with_finding(class_index(*cls), split="test", index=i, size=96)
        img = img.astype(float).mean(-1) if img.ndim == 3 else img.astype(float)
        if reference == "mirror":
            other = mask[:, ::-1]
        else:
            x0, y0, x1, y1 = mask_box(mask)
            other = np.zeros_like(mask)
            other[max(y0 - 4, 0) : y1 + 4, max(x0 - 4, 0) : x1 + 4] = True
            other[y0:y1, x0:x1] = False
        assert sign * (img[mask].mean() - img[other].mean()) > 10, (cls, i)


def test_mask_box_is_tight_and_exclusive():
    m = np.zeros((10, 12), bool)
    m[2, 3] = m[5, 7] = True
    assert mask_box(m) == (3, 2, 8, 6)
    with pytest.raises(ValueError, match="empty"):
        mask_box(np.zeros((4, 4), bool))
    with recording() as got, pytest.raises(RuntimeError, match="already active"):
        with recording():
            pass
    assert got == []


def test_export_joins_the_demo_source_ids(tmp_path, capsys):
    out, npz = tmp_path / "boxes.json", tmp_path / "masks.npz"
    rc = cli(["demo-findings", "--out", str(out), "--masks", str(npz), "--per-class", "2", "--image-size", "64"])
    assert rc == 0 and "20 finding boxes" in capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert doc["format"] == "medclip-demo-findings/1" and doc["image_size"] == 64 and doc["split"] == "test"
    src = DemoSource("demo", DemoSourceConfig(train=0, val=0, test=2, test_shifted=0, image_size=64), seed=0)
    ids = {it.source_id: it for it in src.items()}
    masks = np.load(npz)
    assert len(doc["samples"]) == 2 * len(FINDING_RULES)
    for s in doc["samples"]:
        item = ids[s["source_id"]]
        assert item.labels == (s["label"],) and item.modality == s["modality"]
        m = masks[s["source_id"]]
        assert s["box"] == list(mask_box(m)) and s["mask_pixels"] == int(m.sum())
        _, again = render_with_finding(item.ref[0], split="test", index=item.ref[2], seed=0, size=64)
        assert np.array_equal(again, m)
    assert cli(["demo-findings", "--out", str(out), "--split", "tset"]) == 2


def test_pointing_game_and_energy_by_hand():
    heat = np.zeros((6, 8))
    heat[4, 6] = 5.0  # the maximum: x=6, y=4
    heat[1, 1] = 3.0
    heat[0, 0] = -2.0  # negative values carry no energy
    box = (0, 0, 3, 3)  # x 0..2, y 0..2: holds (1,1) and (0,0), not the maximum
    assert not pointing_hit(heat, box)
    assert pointing_hit(heat, (6, 4, 7, 5))  # a 1-pixel box exactly on the maximum
    assert not pointing_hit(heat, (0, 0, 6, 4))  # x1 / y1 are exclusive
    assert not pointing_hit(heat, (3, 1, 5, 3), tolerance=1)  # grown box x 2..5, y 0..3: misses y=4
    assert pointing_hit(heat, (3, 1, 5, 3), tolerance=2)  # x 1..6, y -1..4: holds (6, 4)
    assert energy_in_box(heat, box) == pytest.approx(3.0 / 8.0)
    assert energy_in_box(heat, (0, 0, 8, 6)) == pytest.approx(1.0)
    flat = np.ones((6, 8))
    assert not pointing_hit(flat, (0, 0, 8, 6))  # a constant map points nowhere
    assert energy_in_box(flat, (0, 0, 4, 3)) == pytest.approx(12 / 48)  # uniform map: the area fraction
    assert energy_in_box(np.zeros((6, 8)), box) == 0.0
    with pytest.raises(ValueError, match="outside"):
        pointing_hit(heat, (0, 0, 9, 2))
    with pytest.raises(ValueError, match="2-D"):
        energy_in_box(heat[None], box)


def test_baseline_maps():
    c = centre_map(96)
    assert np.unravel_index(np.argmax(c), c.shape) in {(47, 47), (47, 48), (48, 47), (48, 48)}
    assert c[48, 48] == pytest.approx(c[47, 47]) and c[0, 0] < 0.02
    a, b = random_map(96, 8, np.random.default_rng(0)), random_map(96, 8, np.random.default_rng(0))
    assert np.array_equal(a, b) and a.shape == (96, 96)
    blocks = a.reshape(8, 12, 8, 12)
    assert np.ptp(blocks, axis=(1, 3)).max() < 1e-5  # constant within each patch (up to the tie-break jitter)
    # over many random maps the hit rate of a box is its area fraction (within sampling error)
    rng = np.random.default_rng(1)
    hits = [pointing_hit(random_map(96, 8, rng), (0, 0, 48, 24)) for _ in range(400)]
    assert abs(np.mean(hits) - 0.125) < 0.05


@pytest.fixture(scope="module")
def tiny():
    model, preprocess, tok = medclip.create_model("medclip-tiny")
    return model.eval(), preprocess, tok


def test_two_class_prompts_on_a_demo_image_give_different_maps(tiny):
    """On a real demo chest film, two class prompts give clearly different maps, while a rescaled copy of one
    class embedding gives the same map (the check measures the class direction, which the score depends on,
    not the embedding's length) -- so the difference is the class, not noise."""
    from zeroshot.classifier import to_pil

    model, preprocess, tok = tiny
    img = render(class_index("xray", "pneumonia"), split="test", index=0, size=96)
    x = preprocess(to_pil(img))[None]
    with torch.no_grad():
        emb = model.encode_text(tok(["pneumonia on chest x-ray", "cardiomegaly on chest x-ray"]))
    a, b = saliency_map(model, x, emb[0]), saliency_map(model, x, emb[1])
    same = saliency_map(model, x, 3.0 * emb[0])
    np.testing.assert_allclose(same, a, atol=1e-5)
    assert np.abs(a - b).max() > 0.05
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] < 0.99
