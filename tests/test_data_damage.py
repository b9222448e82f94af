"""Damaged shards at training time (issue 12): nothing is dropped without a count and a name.

The corpus (tests/damaged_shards.py) mixes good shards with every kind of damage; ``tarfile`` (not medclip's
reader) gives the independent count. The reader, one training epoch and ``verify`` must agree with it: the
same damaged shards with the same read/expected counts, and exactly the good samples trained on.
"""

import json

import pytest
from damaged_shards import PER, independent_count, write_damaged_corpus
from test_train_main import BASE

from medclip.config import load_config
from medclip.data.damage import DataHealth
from medclip.data.tario import read_shard
from medclip.data.urls import expand_urls
from medclip.train import TrainConfig, main
from medclip.train.trainer import train

REASONS = {
    "train-000002.tar": "truncated",
    "train-000003.tar": "truncated",
    "train-000004.tar": "truncated",
    "train-000005.tar": "empty",
    "train-000006.tar": "not_a_tar",
    "train-000007.tar": "corrupt",
    "train-000008.tar": "short",
    "train-000011.tgz": "truncated",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("damaged") / "train"
    kinds = write_damaged_corpus(folder)
    return folder, kinds, independent_count(folder)


def test_reader_names_every_damaged_shard_with_the_independent_counts(corpus):
    folder, kinds, ref = corpus
    sizes = json.loads((folder / "sizes.json").read_text())
    assert sorted(p.rsplit("/", 1)[-1] for p in expand_urls(str(folder))) == sorted(kinds)  # .tar.gz / .tgz too
    damaged = {}
    for name, expected in sizes.items():
        samples, d = read_shard(str(folder / name), expected)
        assert len(samples) == ref["complete"][name], name
        if d is not None:
            damaged[name] = (d.read, d.expected)
            assert d.reason == REASONS[name] and d.name == name
            assert (
                d.describe().startswith(f"{name}: {d.reason}")
                and f"{d.read} of {expected} samples read" in d.describe()
            )
    assert damaged == ref["damaged"]
    assert set(damaged) == set(REASONS)


class Keys:
    def __init__(self):
        self.keys = []

    def on_fetch(self, loop, micro):
        self.keys += [k for b in micro for k in b["keys"]]


def _cfg(tmp_path, folder, *extra):
    return load_config(TrainConfig, [], [f"run_dir={tmp_path / 'run'}", f"data.train={folder}", *BASE, *extra])


def test_one_epoch_trains_exactly_the_good_samples_and_reports_the_damage(tmp_path, corpus, capsys):
    folder, _, ref = corpus
    rec = Keys()
    out = train(_cfg(tmp_path, folder, "epochs=1", "log_every_n_steps=4"), callbacks=[rec])
    expected_total = sum(json.loads((folder / "sizes.json").read_text()).values())
    assert len(rec.keys) == (expected_total // 8) * 8  # the epoch keeps its sizes.json length ...
    assert set(rec.keys) == ref["good"]  # ... padded by re-reading: every good sample, nothing else
    missing = sum(e - r for r, e in ref["damaged"].values())
    data = out["data"]
    assert data["data/shards_damaged"] == len(ref["damaged"]) and data["data/samples_missing"] == missing
    assert data["data/damaged_shards"] == sorted(ref["damaged"])
    assert data["data/skipped/undecodable_image"] >= ref["undecodable"] >= 1  # re-read padding may skip again
    assert out["skipped_samples"] == data["data/samples_skipped"]
    printed = capsys.readouterr().out
    for name, (r, e) in ref["damaged"].items():
        assert f"{name}: {REASONS[name]}" in printed and f"{r} of {e} samples read" in printed
    rows = [json.loads(x) for x in open(tmp_path / "run" / "metrics.jsonl")]
    assert rows and all("data/shards_damaged" in r and "data/samples_missing" in r for r in rows)
    assert rows[-1]["data/shards_damaged"] == len(ref["damaged"]) and rows[-1]["data/samples_missing"] == missing
    assert "step 4/12 loss" in printed and "damaged shard(s)" in printed  # the per-interval line carries it


def test_strict_mode_is_a_one_line_error_naming_the_shard(tmp_path, corpus, capsys):
    folder, _, _ = corpus
    rc = main([f"run_dir={tmp_path / 'strict'}", f"data.train={folder}", *BASE, "epochs=1", "data.strict=true"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert err[0].startswith("error: data.strict: ") and any(n in err[0] for n in REASONS), err


def test_strict_mode_passes_on_good_shards(tmp_path):
    from shard_fixtures import write_shards

    folder = write_shards(tmp_path / "good", n=16, shards=2)
    assert main([f"run_dir={tmp_path / 'ok'}", f"data.train={folder}", *BASE, "epochs=1", "data.strict=true"]) == 0


def test_verify_reports_the_same_damage(corpus):
    from data_pipelines.verify import verify_dir

    folder, _, ref = corpus
    lines = []
    problems = verify_dir(folder, log=lines.append)
    for name, (r, e) in ref["damaged"].items():
        (hit,) = [p for p in problems if p.startswith(f"{name}: ")]
        assert hit.startswith(f"{name}: {REASONS[name]}") and hit.endswith(f"{r} of {e} samples read")
    missing = sum(e - r for r, e in ref["damaged"].values())
    (summary,) = [x for x in lines if "damage:" in x]
    assert f"{len(ref['damaged'])} damaged shard(s)" in summary and f"{missing} sample(s) missing" in summary


def test_health_round_trips_through_a_checkpoint_dict(corpus):
    folder, _, _ = corpus
    h = DataHealth()
    _, d = read_shard(str(folder / "train-000005.tar"), PER)
    h.add_shard(d)
    h.add_shard(d)  # a re-read is not counted twice
    h.add_skips({"no_caption": 2}, "x.tar/k: no_caption")
    back = DataHealth.from_state_dict(json.loads(json.dumps(h.state_dict())))
    assert back.fields() == h.fields() and back.samples_missing == PER and back.samples_skipped == 2


def test_zeroshot_index_reads_gzip_shards_like_the_trainer(tmp_path):
    import gzip

    import numpy as np
    from shard_fixtures import write_shards

    from zeroshot.data import index_shards, read_image

    folder = write_shards(tmp_path / "gz", n=12, shards=2, image_format="png")
    plain = {r["key"]: np.asarray(read_image(r["image"])) for r in index_shards(folder)}
    tar = folder / "train-000001.tar"
    (folder / "train-000001.tar.gz").write_bytes(gzip.compress(tar.read_bytes()))
    tar.unlink()
    recs = index_shards(folder)
    assert sorted(r["key"] for r in recs) == sorted(plain)  # the .tar.gz shard is not skipped
    assert any(r["image"][0].endswith(".tar.gz") for r in recs)
    for r in recs:
        assert np.array_equal(np.asarray(read_image(r["image"])), plain[r["key"]])


def test_damage_totals_survive_a_resume(tmp_path, corpus):
    folder, _, ref = corpus
    from medclip.train.checkpoint import load_checkpoint

    assert train(_cfg(tmp_path, folder, "epochs=1", "stop_after_steps=5"))["step"] == 5
    saved = DataHealth.from_state_dict(load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")["data_health"])
    assert saved.shards and {d.name for d in saved.shards.values()} <= set(ref["damaged"])  # seen by step 5
    out = train(_cfg(tmp_path, folder, "epochs=1"), resume="auto")
    missing = sum(e - r for r, e in ref["damaged"].values())
    assert out["step"] == 12 and out["data"]["data/damaged_shards"] == sorted(ref["damaged"])
    assert out["data"]["data/samples_missing"] == missing


def test_gzip_reader_handles_concatenated_members_and_keeps_what_precedes_a_cut(tmp_path):
    import gzip
    import io
    import tarfile
    import zlib

    from medclip.data.tario import iter_members

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for i in range(40):
            info = tarfile.TarInfo(f"k{i:03d}.txt")
            info.size = 3000
            tf.addfile(info, io.BytesIO(bytes([i]) * 3000))
    raw = buf.getvalue()
    half = len(raw) // 2 // 512 * 512
    two = gzip.compress(raw[:half]) + gzip.compress(raw[half:])  # `cat a.gz b.gz` is one valid gzip stream
    assert [n for n, _ in iter_members(io.BytesIO(two))] == [f"k{i:03d}.txt" for i in range(40)]
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        members = tf.getmembers()
    cut = members[25].offset_data + 1000  # inside member 25 of the decompressed stream
    gz = gzip.compress(raw)
    lo, hi = 0, len(gz)  # the shortest gzip prefix that decompresses past ``cut``
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if len(zlib.decompressobj(wbits=31).decompress(gz[:mid])) < cut else (lo, mid)
    path = tmp_path / "cut.tar.gz"
    path.write_bytes(gz[:lo])
    samples, d = read_shard(str(path), 40)
    assert [s["__key__"] for s in samples] == [f"k{i:03d}" for i in range(25)]  # every complete member kept
    assert d.reason == "truncated" and d.read == 25 and d.missing == 15
