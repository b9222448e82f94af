"""The ``pairs`` source: one fixture per input format (CSV, TSV, JSON Lines, Parquet, HF save_to_disk,
webdataset), written in the test; captions scrubbed and cleaned, skips counted with their reasons."""

import csv
import io
import json
import tarfile

import numpy as np
import pytest
from PIL import Image

from data_pipelines.build import build
from data_pipelines.config import BuildConfig
from data_pipelines.deid import scrub
from data_pipelines.imageio import pixel_sha256

N = 5
PHI = "Seen by Dr. John Smith on 03/04/2021, MRN 12345678."


def _images(n=N):
    rng = np.random.default_rng(7)
    return [rng.integers(0, 256, (40 + i, 48), dtype=np.uint8) for i in range(n)]


def _png(a) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def _caption(i: int) -> str:
    return f"  axial  ct of the liver,, case {i}.  {PHI}"


def _cfg(tmp_path, **src) -> BuildConfig:
    return BuildConfig(name="pairs", out=str(tmp_path / "out"), sources={"p": {"type": "pairs", **src}})


def _samples(root):
    out = {}
    for tar in sorted((root / "train").glob("*.tar")):
        with tarfile.open(tar) as tf:
            for m in tf:
                key, _, ext = m.name.partition(".")
                out.setdefault(key, {})[ext] = tf.extractfile(m).read()
    return out


def _check(tmp_path, cfg, images, *, skipped=None, modality="ct"):
    rep = build(cfg, workers=1, progress=False, log=lambda *a: None)
    man = json.loads((tmp_path / "out" / "train" / "manifest.json").read_text())
    assert man["skipped"]["by_reason"] == (skipped or {})
    got = _samples(tmp_path / "out")
    assert rep.splits["train"]["samples"] == len(got) == len(images)
    want_sha = {pixel_sha256(a) for a in images}
    metas = [json.loads(s["json"]) for s in got.values()]
    assert {m["sha256"] for m in metas} == want_sha
    for s, m in zip(got.values(), metas):
        assert m["caption_kinds"] == ["native"] and m["labels"] == [] and m["modality"] == modality
        cap = m["captions"][0]
        assert s["txt"].decode() == cap
        assert "Smith" not in cap and "12345678" not in cap and "03/04/2021" not in cap
        i = int(cap.split("case ")[1].split(".")[0])
        expect = scrub(_caption(i)).text  # independent: scrub, then the cleaning rules written out here
        expect = " ".join(expect.split()).replace(",,", ",").replace(" .", ".")
        assert cap == expect[0].upper() + expect[1:]
    raw = (tmp_path / "out" / "train" / "manifest.json").read_text()
    assert "Smith" not in raw and "12345678" not in raw
    return man, metas


def test_csv_tsv_and_jsonl_with_paths_and_counted_skips(tmp_path):
    imgs = _images()
    (tmp_path / "im").mkdir()
    rows = []
    for i, a in enumerate(imgs):
        (tmp_path / "im" / f"{i}.png").write_bytes(_png(a))
        rows.append({"file": f"im/{i}.png", "text": _caption(i)})
    (tmp_path / "im" / "bad.png").write_bytes(b"not a png")
    bad = [
        {"file": "im/nope.png", "text": "a caption"},  # missing file -> missing_image
        {"file": "", "text": "a caption"},  # no path -> missing_image
        {"file": "im/0.png", "text": "   "},  # empty_text
        {"file": "im/1.png", "text": "No caption found"},  # placeholder -> empty_text
        {"file": "im/bad.png", "text": "a caption"},  # bad bytes -> unreadable
    ]
    skips = {"missing_image": 2, "empty_text": 2, "unreadable": 1}
    for fmt, delim in (("csv", ","), ("tsv", "\t")):
        with open(tmp_path / f"t.{fmt}", "w", newline="") as f:
            w = csv.DictWriter(f, ["file", "text"], delimiter=delim)
            w.writeheader()
            w.writerows(rows + bad)
        _check(tmp_path, _cfg(tmp_path, path=str(tmp_path / f"t.{fmt}"), image_column="file", text_column="text",
                              modality="ct"), imgs, skipped=skips)  # fmt: skip
    with open(tmp_path / "t.jsonl", "w") as f:
        for r in rows + bad:
            f.write(json.dumps({"img": {"path": r["file"]}, "meta": {"caption": r["text"]}, "mod": "CT"}) + "\n")
    _check(tmp_path, _cfg(tmp_path, path=str(tmp_path / "t.jsonl"), image_column="img.path",
                          text_column="meta.caption", modality_column="mod"), imgs, skipped=skips)  # fmt: skip


def test_parquet_inline_bytes_and_labels_give_both_caption_kinds(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    imgs = _images()
    tab = pa.table(
        {
            "image": [_png(a) for a in imgs] + [b""],
            "caption": [_caption(i) for i in range(N)] + ["x"],
            "findings": ["pneumonia", "normal", "pneumonia|cardiomegaly", "", "normal"] + ["normal"],
        }
    )
    pq.write_table(tab, tmp_path / "p.parquet", row_group_size=2)
    cfg = _cfg(tmp_path, path=str(tmp_path / "p.parquet"), label_column="findings", modality="xray",
               anatomy="chest")  # fmt: skip
    rep = build(cfg, workers=2, progress=False, log=lambda *a: None)
    got = [json.loads(s["json"]) for s in _samples(tmp_path / "out").values()]
    assert rep.splits["train"]["samples"] == N and rep.splits["train"]["skipped"] == {"missing_image": 1}
    assert {m["sha256"] for m in got} == {pixel_sha256(a) for a in imgs}
    by_labels = {tuple(m["labels"]): m for m in got}
    assert set(by_labels) == {("pneumonia",), ("normal",), ("pneumonia", "cardiomegaly"), ()}
    both = by_labels[("pneumonia",)]
    assert both["caption_kinds"][0] == "native" and set(both["caption_kinds"][1:]) == {"llm_template"}
    assert any("pneumonia" in c.lower() for c in both["captions"][1:])
    assert by_labels[()]["caption_kinds"] == ["native"]
    # an HF-style image struct {bytes, path} (what datasets' to_parquet writes), in a folder of parquet files
    (tmp_path / "pq").mkdir()
    structs = [{"bytes": _png(a), "path": f"{i}.png"} for i, a in enumerate(imgs)]
    pq.write_table(
        pa.table({"image": structs, "caption": [_caption(i) for i in range(N)]}), tmp_path / "pq" / "a.parquet"
    )
    _check(tmp_path, _cfg(tmp_path, path=str(tmp_path / "pq"), modality="ct"), imgs)


def test_hf_save_to_disk_datasetdict_offline(tmp_path):
    datasets = pytest.importorskip("datasets")
    imgs = _images()
    data = {"image": [{"bytes": _png(a), "path": None} for a in imgs], "caption": [_caption(i) for i in range(N)]}
    feats = datasets.Features({"image": datasets.Image(), "caption": datasets.Value("string")})
    ds = datasets.Dataset.from_dict(data, features=feats)
    dd = datasets.DatasetDict({"train": ds.select(range(3)), "validation": ds.select(range(3, N))})
    dd.save_to_disk(str(tmp_path / "hf"))
    cfg = _cfg(tmp_path, path=str(tmp_path / "hf"), modality="ct")
    rep = build(cfg, workers=1, progress=False, log=lambda *a: None)
    assert rep.splits["train"]["samples"] == 3 and rep.splits["val"]["samples"] == 2
    vals = []
    for tar in (tmp_path / "out" / "val").glob("*.tar"):
        with tarfile.open(tar) as tf:
            vals += [json.loads(tf.extractfile(m).read()) for m in tf if m.name.endswith(".json")]
    assert {m["sha256"] for m in vals} == {pixel_sha256(a) for a in imgs[3:]}


def test_webdataset_reshard_with_member_mapping(tmp_path):
    imgs = _images()
    (tmp_path / "wds").mkdir()
    with tarfile.open(tmp_path / "wds" / "in-000000.tar", "w") as tf:
        for i, a in enumerate(imgs + [None]):
            members = {"json": json.dumps({"caption": _caption(i), "modality": "ct"}).encode()}
            members["png"] = _png(a) if a is not None else b""
            for ext, data in members.items():
                ti = tarfile.TarInfo(f"sample{i:04d}.{ext}")
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
    cfg = _cfg(tmp_path, path=str(tmp_path / "wds"), image_column="png;jpg", text_column="json.caption",
               modality_column="json.modality")  # fmt: skip
    man, metas = _check(tmp_path, cfg, imgs, skipped={"missing_image": 1})
    assert sorted(m["source_id"] for m in metas) == [f"sample{i:04d}" for i in range(N)]


def test_pairs_config_errors(tmp_path):
    from medclip.config import ConfigError

    with pytest.raises(ConfigError, match="text_kind"):
        _cfg(tmp_path, path="x.csv", text_kind="summary").validate()
    with pytest.raises(ConfigError, match="path"):
        _cfg(tmp_path).validate()
    with pytest.raises(ConfigError, match="image_colum"):
        _cfg(tmp_path, path="x.csv", image_colum="a").validate()


def test_text_processing_in_worker_processes_matches_serial():
    from data_pipelines.sources.pairs_text import TextStats, process_many

    jobs = [(f"Chest film {i}, Dr. John Smith, 03/04/2021.", "caption") for i in range(600)] + [("  ", "caption")]
    st1, st2 = TextStats(), TextStats()
    serial, pooled = process_many(jobs, stats=st1, workers=1), process_many(jobs, stats=st2, workers=2)
    assert serial[:-1] == pooled[:-1] and type(pooled[-1]).__name__ == "EmptyText"
    assert st1.as_dict() == st2.as_dict() and st1.as_dict()["phi_replaced"] == {"DATE": 600, "NAME": 600}


def test_parquet_image_bytes_are_read_once_per_row_group_in_shuffled_order(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from data_pipelines.sources.pairs_readers import ParquetReader

    blobs = [bytes([i]) * (100 + i) for i in range(12)]
    pq.write_table(pa.table({"image": blobs, "caption": [str(i) for i in range(12)]}), tmp_path / "a.parquet",
                   row_group_size=4)  # fmt: skip
    r = ParquetReader(tmp_path / "a.parquet", "image")
    locs = [loc for loc, _ in r.rows()]
    order = list(np.random.default_rng(0).permutation(len(locs))) * 2
    assert [r.image_bytes(locs[i]) for i in order] == [blobs[i] for i in order]
    assert r.reads == 3  # everything fits the cache: each row group is read once
    small = ParquetReader(tmp_path / "a.parquet", "image", cache_bytes=1)  # keeps the 2 most recent groups
    for i in (0, 4, 1, 8, 2, 5):  # groups 0, 1, 0, 2 (evicts 1, the least recently used), 0, 1
        assert small.image_bytes(locs[i]) == blobs[i]
    assert small.reads == 4
