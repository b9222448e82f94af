"""Near-duplicate control: the DCT pHash against an independent scipy DCT, resized / re-encoded copies of
eval images caught by the exclusion check (build and verify), cross-source de-duplication in the manifest."""

import csv
import io
import json
import tarfile

import numpy as np
import pytest
from PIL import Image

from data_pipelines.build import build
from data_pipelines.cli import cli
from data_pipelines.config import BuildConfig
from data_pipelines.exclusion import near_duplicate_problems, write_exclusion_list
from data_pipelines.phash import NEAR_DUP_THRESHOLD, hamming, near_pairs, phash


def _smooth(seed: int, size: int = 256) -> np.ndarray:
    """A distinct image: random 6x6 field upsampled (its low frequencies are its own) plus a little noise."""
    rng = np.random.default_rng(seed)
    base = Image.fromarray(rng.integers(0, 256, (6, 6), dtype=np.uint8)).resize((size, size), Image.BICUBIC)
    return np.clip(np.asarray(base, np.int16) + rng.integers(-8, 9, (size, size)), 0, 255).astype(np.uint8)


def _degrade(a: np.ndarray) -> bytes:
    """The issue's copy: 0.5x resize, JPEG quality 70."""
    img = Image.fromarray(a).resize((a.shape[1] // 2, a.shape[0] // 2), Image.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=70)
    return buf.getvalue()


def _png(a) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def test_phash_matches_an_independent_dct():
    fft = pytest.importorskip("scipy.fft")
    a = _smooth(3)
    g = np.asarray(Image.fromarray(a).convert("L").resize((32, 32), Image.BOX), np.float64)
    c = fft.dct(fft.dct(g, axis=0, norm="ortho"), axis=1, norm="ortho")[:8, :8].ravel()
    want = sum(1 << i for i in range(64) if c[i] > np.median(c[1:]))
    assert phash(a) == want and phash(np.stack([a] * 3, -1)) == want


def test_resized_reencoded_copies_are_near_and_distinct_images_are_not():
    imgs = [_smooth(s) for s in range(12)]
    for a in imgs:
        copy = np.asarray(Image.open(io.BytesIO(_degrade(a))))
        assert hamming(phash(a), phash(copy)) <= NEAR_DUP_THRESHOLD
    hs = [phash(a) for a in imgs]
    assert min(hamming(x, y) for i, x in enumerate(hs) for y in hs[i + 1 :]) > NEAR_DUP_THRESHOLD
    # the multi-index search finds exactly the brute-force pairs
    rng = np.random.default_rng(0)
    pool = [int(x) for x in rng.integers(0, 2**63, 300, dtype=np.int64)]
    pool += [
        p ^ (1 << int(b)) ^ (1 << int(c))
        for p, b, c in zip(pool[:40], rng.integers(0, 64, 40), rng.integers(0, 64, 40))
    ]
    brute = {(i, j) for i in range(len(pool)) for j in range(i + 1, len(pool)) if hamming(pool[i], pool[j]) <= 8}
    assert set(near_pairs(pool, 8)) == brute and len(brute) >= 40


def _pairs_source(tmp_path, name, images: dict[str, bytes]) -> dict:
    d = tmp_path / name
    d.mkdir()
    with open(d / "t.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "caption", "label"])
        for fn, data in images.items():
            (d / fn).write_bytes(data)
            w.writerow([fn, f"figure {fn} of a histology slide", "normal"])
    return {"type": "pairs", "path": str(d / "t.csv"), "modality": "pathology", "label_column": "label"}


def test_eval_exclusion_catches_resized_and_reencoded_copies(tmp_path):
    evals = [_smooth(s) for s in range(4)]
    (tmp_path / "suite" / "x").mkdir(parents=True)
    for i, a in enumerate(evals):
        (tmp_path / "suite" / "x" / f"{i}.png").write_bytes(_png(a))
    ex = tmp_path / "eval.txt"
    write_exclusion_list([str(tmp_path / "suite")], str(ex), log=lambda *a: None)
    assert sum(ln.startswith("phash ") for ln in ex.read_text().splitlines()) == 4
    train = {f"copy{i}.jpg": _degrade(a) for i, a in enumerate(evals[:3])}
    train |= {f"other{i}.png": _png(_smooth(100 + i)) for i in range(3)}
    src = _pairs_source(tmp_path, "train", train)

    def run(out, near):
        cfg = BuildConfig(name="t", out=str(tmp_path / out), sources={"p": src})
        cfg.hygiene.exclude, cfg.hygiene.near_dup_exclude = [str(ex)], near
        return build(cfg, workers=1, progress=False, log=lambda *a: None)

    plain = run("plain", False)  # pixel sha256 only: the copies have other pixels and get in
    assert plain.splits["train"]["samples"] == 6 and plain.splits["train"]["excluded"] == 0
    probs = near_duplicate_problems([str(tmp_path / "plain")], [str(ex)], log=lambda *a: None)
    assert len(probs) == 3 and all("near-duplicate" in p for p in probs)
    assert near_duplicate_problems([str(tmp_path / "plain")], [str(ex)], splits=("test",), log=lambda *a: None) == []
    assert cli(["verify", str(tmp_path / "plain"), "--exclude", str(ex)]) == 0  # sha256 only: not caught
    assert cli(["verify", str(tmp_path / "plain"), "--exclude", str(ex), "--near-dup"]) == 1
    # a list made from shards takes each sample's recorded phash
    ex2 = tmp_path / "from_shards.txt"
    write_exclusion_list([str(tmp_path / "plain" / "train")], str(ex2), log=lambda *a: None)
    metas = []
    for tar in (tmp_path / "plain" / "train").glob("*.tar"):
        with tarfile.open(tar) as tf:
            metas += [json.loads(tf.extractfile(m).read()) for m in tf if m.name.endswith(".json")]
    lines = ex2.read_text().splitlines()
    assert sorted(ln.split()[1] for ln in lines if ln.startswith("phash ")) == sorted({m["phash"] for m in metas})
    assert {m["phash"] for m in metas} == {f"{phash(np.asarray(Image.open(tmp_path / 'train' / m['source_id']))):016x}"
                                          for m in metas}  # fmt: skip
    guarded = run("guarded", True)
    assert guarded.splits["train"]["samples"] == 3 and guarded.splits["train"]["excluded"] == 3
    man = json.loads((tmp_path / "guarded" / "train" / "manifest.json").read_text())
    assert sorted(s["source_id"] for s in man["skipped"]["items"]) == ["copy0.jpg", "copy1.jpg", "copy2.jpg"]
    assert near_duplicate_problems([str(tmp_path / "guarded")], [str(ex)], log=lambda *a: None) == []
    assert cli(["verify", str(tmp_path / "guarded"), "--exclude", str(ex), "--near-dup"]) == 0


def test_cross_source_near_duplicates_counted_and_dropped(tmp_path):
    a_imgs = [_smooth(s) for s in range(5)]
    src_a = _pairs_source(tmp_path, "a", {f"{i}.png": _png(x) for i, x in enumerate(a_imgs)})
    b = {f"dup{i}.jpg": _degrade(a_imgs[i]) for i in range(2)} | {
        f"own{i}.png": _png(_smooth(50 + i)) for i in range(3)
    }
    src_b = _pairs_source(tmp_path, "b", b)
    src_c = _pairs_source(tmp_path, "c", {"dup.jpg": _degrade(a_imgs[4])})
    for mode, want in (("report", {"a": 5, "b": 5, "c": 1}), ("drop", {"a": 5, "b": 3})):
        cfg = BuildConfig(name="t", out=str(tmp_path / mode), sources={"a": src_a, "b": src_b, "c": src_c})
        cfg.hygiene.near_dup = mode
        rep = build(cfg, workers=1, progress=False, log=lambda *a: None)
        man = json.loads((tmp_path / mode / "train" / "manifest.json").read_text())
        nd = man["near_duplicates"]
        assert nd["pairs"] == {"a+b": 2, "a+c": 1} and nd["threshold"] == NEAR_DUP_THRESHOLD
        assert man["counts"]["source"] == want and rep.near_duplicates == nd
        if mode == "drop":
            assert nd["dropped"] == {"b": 2, "c": 1} and man["skipped"]["by_reason"] == {"near_duplicate": 3}
        else:
            assert nd["dropped"] == {} and man["skipped"]["by_reason"] == {}
    # hygiene.near_dup_priority: b's copies are kept, a's originals of them are dropped
    cfg = BuildConfig(name="t", out=str(tmp_path / "prio"), sources={"a": src_a, "b": src_b, "c": src_c})
    cfg.hygiene.near_dup, cfg.hygiene.near_dup_priority = "drop", ["b"]
    build(cfg, workers=1, progress=False, log=lambda *a: None)
    man = json.loads((tmp_path / "prio" / "train" / "manifest.json").read_text())
    assert man["near_duplicates"]["dropped"] == {"a": 2, "c": 1} and man["counts"]["source"] == {"a": 3, "b": 5}
