"""Suite YAML: built-in suites, validation errors, missing-dataset messages, dataset layouts."""

import textwrap
from collections import Counter

import numpy as np
import pytest
from test_zeroshot_fixtures import write_csv_dataset, write_imagefolder, write_shards

from medclip.config import ConfigError
from zeroshot.data import MissingDatasetError, resolve_items
from zeroshot.suites import class_prompts, load_suite

GOOD = """
name: mini
template_sets: {t: ["a photo of {}.", "{}"]}
datasets:
  - name: d1
    modality: histo
    layout: imagefolder
    path: d1
    template_set: t
    n_templates: 2
    classes: [{name: red}, {name: green, synonyms: [verdant]}]
"""


def write(tmp_path, text, name="suite.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_builtin_demo_suite_covers_the_17_demo_classes():
    from data_pipelines.sources.demo import DEMO_CLASSES

    suite = load_suite("demo")
    main = suite.datasets[0]
    assert {(c.modality, c.match_values[0]) for c in main.classes} == {(c.modality, c.label) for c in DEMO_CLASSES}
    assert [d.name for d in suite.datasets] == ["demo", "demo_shifted"]
    assert suite.datasets[1].shift_of == "demo" and suite.datasets[1].path == "test_shifted"
    assert len(main.templates) == main.n_templates == 4


def test_demo_eval_prompts_differ_from_training_captions():
    from data_pipelines.captions import CaptionConfig, CaptionConverter, prompt_overlap
    from data_pipelines.sources.demo import DEMO_CLASSES

    conv = CaptionConverter(CaptionConfig(n_captions=16))
    train = [c for dc in DEMO_CLASSES for c in conv.bank(dc.modality, dc.anatomy, [dc.label]).captions]
    prompts = [p for ps in class_prompts(load_suite("demo").datasets[0]) for p in ps]
    stats = prompt_overlap(prompts, train)
    assert stats["exact"] == 0 and stats["near_duplicates"] == 0, stats["worst"]


def test_builtin_unimed21_suite():
    suite = load_suite("unimed21")
    assert len(suite.datasets) == 21
    assert Counter(d.modality for d in suite.datasets) == {
        "xray": 2,
        "ct": 3,
        "mri": 2,
        "ultrasound": 2,
        "fundus": 4,
        "pathology": 8,
    }
    auc = {d.name for d in suite.datasets if d.metric == "auc"}
    assert auc == {"acl_mri", "meniscal_mri", "thyroid_us", "breast_us", "refuge_retina"}
    counts = {d.name: d.n_templates for d in suite.datasets}
    assert counts["dr_regular"] == 15 and counts["PCAM"] == 2 and counts["LC25000_lung"] == 3
    refuge = next(d for d in suite.datasets if d.name == "refuge_retina")
    assert [len(p) for p in class_prompts(refuge)] == [10, 5]
    assert all(d.layout_doc for d in suite.datasets)


@pytest.mark.parametrize(
    "old,new,match",
    [
        ("layout: imagefolder", "layout: folders", "layout 'folders'"),
        ("modality: histo", "modality: xrays", "unknown modality 'xrays'"),
        ("n_templates: 2", "n_templates: 3", "n_templates is 3 but 2"),
        ("template_set: t", "template_set: tt", "unknown template_set 'tt'"),
        ("    path: d1", "    path: d1\n    metrik: auc", "unknown config key 'datasets\\[0\\].metrik'.*metric"),
        ("classes: [{name: red}, ", "classes: [", "at least 2 classes"),
        ("    path: d1", "    path: d1\n    metric: recall", "metric 'recall'"),
    ],
)
def test_validation_errors(tmp_path, old, new, match):
    assert old in GOOD
    with pytest.raises(ConfigError, match=match):
        load_suite(write(tmp_path, GOOD.replace(old, new)))


def test_unknown_suite_name_suggests():
    with pytest.raises(ConfigError, match="Did you mean: unimed21"):
        load_suite("unimed2")
    with pytest.raises(ConfigError, match="suite file not found"):
        load_suite("nowhere/suite.yaml")


def test_layouts_and_missing_messages(tmp_path):
    suite = load_suite(write(tmp_path, GOOD), data_root=tmp_path / "data")
    ds = suite.datasets[0]
    with pytest.raises(MissingDatasetError, match=f"dataset 'd1': folder not found: {tmp_path / 'data' / 'd1'}"):
        resolve_items(suite, ds)
    write_imagefolder(tmp_path / "data" / "d1", {"Red": 3, "green": 2, "blue": 4})
    items = resolve_items(suite, ds)
    assert items.labels.tolist() == [0, 0, 0, 1, 1]  # folders sorted: Red (matched case-insensitively), green
    assert items.skipped == 4  # "blue" matches no class
    assert class_prompts(ds)[1] == ["a photo of green.", "green", "a photo of verdant.", "verdant"]


def test_csv_and_shard_layouts(tmp_path):
    text = GOOD.replace("layout: imagefolder", "layout: csv\n    csv: {file: l.csv, image_column: f, label_column: y}")
    suite = load_suite(write(tmp_path, text), data_root=tmp_path)
    ds = suite.datasets[0]
    with pytest.raises(MissingDatasetError, match="label file not found: .*l.csv"):
        resolve_items(suite, ds)
    write_csv_dataset(
        tmp_path / "d1", [("red", "red"), ("green", "Green"), ("blue", "other")], file="l.csv", columns=("f", "y")
    )
    items = resolve_items(suite, ds)
    assert items.labels.tolist() == [0, 1] and items.skipped == 1
    (tmp_path / "d1" / "images" / "0000.png").unlink()
    with pytest.raises(MissingDatasetError, match="1 image\\(s\\) listed in l.csv are missing"):
        resolve_items(suite, ds)
    # shards: classes matched by (modality, label)
    demo = load_suite("demo", data_root=tmp_path / "shards")
    write_shards(
        tmp_path / "shards" / "test",
        [("xray", "normal", "a"), ("ct", "normal", "b"), ("us", "malignant mass", "c"), ("ct", "unknown", "d")],
    )
    items = resolve_items(demo, demo.datasets[0])
    names = [demo.datasets[0].classes[i].name for i in items.labels]
    assert names == ["normal chest x-ray", "normal abdominal ct", "malignant breast mass on ultrasound"]
    assert items.modalities == ["xray", "ct", "ultrasound"] and items.skipped == 1
    assert np.asarray(items.captions is not None)


def test_fast_loader_matches_full_transform(tmp_path):
    import medclip
    from zeroshot.data import make_fast_loader, make_loader

    write_imagefolder(tmp_path, {"a": 3, "b": 2})
    srcs = sorted(str(p) for p in tmp_path.rglob("*.png"))
    _, preprocess, _ = medclip.create_model("medclip-tiny")
    ((ref, idx),) = list(make_loader(srcs, preprocess, batch_size=8, workers=0))
    loader, finish = make_fast_loader(srcs, preprocess, batch_size=8, workers=0)
    ((raw, idx2),) = list(loader)
    assert raw.dtype == np.uint8 or str(raw.dtype) == "torch.uint8"
    assert idx.tolist() == idx2.tolist() == list(range(5))
    np.testing.assert_allclose(finish(raw).numpy(), ref.numpy(), atol=1e-6)


def test_shard_index_matches_tarfile_and_byte_ranges_hold_the_images(tmp_path):
    import io
    import json
    import tarfile

    from zeroshot.data import index_shards

    folder = tmp_path / "s"
    folder.mkdir()
    long_key = "x" * 120  # > 100 characters: a PAX/GNU long-name header precedes the member
    members = []
    for i, key in enumerate(["a", "sub/b", long_key]):
        members += [
            (f"{key}.png", bytes([i]) * (700 + i)),
            (f"{key}.json", json.dumps({"labels": [f"l{i}"], "modality": "ct"}).encode()),
            (f"{key}.txt", f"caption {i}".encode()),
        ]
    members.append(("c.json", b"{}"))  # a sample without an image is not indexed
    with tarfile.open(folder / "t-000000.tar", "w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    recs = {r["key"]: r for r in index_shards(folder)}
    assert set(recs) == {"a", "b", long_key}
    with tarfile.open(folder / "t-000000.tar") as tf:
        for m in tf:
            key, _, ext = m.name.rsplit("/", 1)[-1].partition(".")
            if ext == "png":
                assert recs[key]["image"] == (str(folder / "t-000000.tar"), m.offset_data, m.size)
    raw = (folder / "t-000000.tar").read_bytes()
    for i, key in enumerate(["a", "b", long_key]):
        _, off, size = recs[key]["image"]
        assert raw[off : off + size] == bytes([i]) * (700 + i)
        assert recs[key]["json"]["labels"] == [f"l{i}"] and recs[key]["txt"] == f"caption {i}"
    (folder / "t-000001.tar").write_bytes(raw[:1000])  # truncated inside a member
    with pytest.raises(ValueError, match="t-000001.tar: truncated"):
        index_shards(folder)
