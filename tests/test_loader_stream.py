"""The shard loader: determinism, exact fast-forward, caption sampling, corrupt samples, mixing, URLs."""

import functools
import http.server
import io
import threading
from collections import Counter

import pytest
import torch
from PIL import Image
from shard_fixtures import write_shards

from medclip.config import ConfigError, load_config
from medclip.data.config import DataConfig
from medclip.data.decode import decode_image
from medclip.data.loader import ShardStream, TrainLoader
from medclip.data.urls import expand_urls, shard_sizes


def _stream(sources, tmp_cfg=None, *, weights=None, bpe=4, rank=0, world=1, split="shard", **kw):
    cfg = DataConfig(
        train=None,
        sources=[],
        batch_size=kw.pop("batch_size", 4),
        workers=kw.pop("workers", 0),
        shuffle_buffer=kw.pop("shuffle_buffer", 16),
        shuffle_initial=4,
        **kw,
    )
    return ShardStream(
        sources,
        weights or [1.0] * len(sources),
        cfg,
        seed=0,
        rank=rank,
        world_size=world,
        image_size=32,
        batches_per_epoch=bpe,
        split_by=split,
    )


def _keys(batches):
    return [k for b in batches for k in b["keys"]]


def test_epoch_is_deterministic_and_reshuffled_per_epoch(tmp_path):
    urls = expand_urls(str(write_shards(tmp_path / "s", n=32, shards=4)))
    loader = TrainLoader(_stream([urls], bpe=8))
    e0 = list(loader.batches(0))
    assert [b["index"] for b in e0] == list(range(8))
    assert _keys(e0) == _keys(loader.batches(0))
    assert sorted(_keys(e0)) == sorted(f"synth-{i:09d}" for i in range(32))  # one pass = every sample once
    assert _keys(loader.batches(1)) != _keys(e0)
    assert e0[0]["images"].dtype == torch.uint8 and e0[0]["images"].shape == (4, 3, 32, 32)


def test_captions_are_drawn_per_epoch_from_json_captions(tmp_path):
    urls = expand_urls(str(write_shards(tmp_path / "s", n=16, shards=2, captions_per_sample=5)))
    loader = TrainLoader(_stream([urls], bpe=4))
    by_epoch = [
        dict(zip(_keys(list(loader.batches(e))), [t for b in loader.batches(e) for t in b["texts"]])) for e in range(4)
    ]
    starts = ("chest x-ray", "abdominal CT", "brain MRI", "fundus", "colon")
    assert all(t.startswith(starts) for t in by_epoch[0].values())
    key = "synth-000000003"
    assert len({d[key] for d in by_epoch}) > 1  # a new caption draw each epoch
    assert by_epoch[0] == dict(zip(_keys(list(loader.batches(0))), [t for b in loader.batches(0) for t in b["texts"]]))


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_mid_epoch_yields_exactly_the_remaining_batches(tmp_path, workers):
    urls = expand_urls(str(write_shards(tmp_path / "s", n=48, shards=4, corrupt=(5,))))
    loader = TrainLoader(_stream([urls], bpe=10, workers=workers))
    full = list(loader.batches(2))
    positions = [0] * max(1, workers)
    for b in full[:3]:
        positions[b["role"]] = b["pos"]
    rest = list(loader.batches(2, start=3, positions=positions))
    assert [b["index"] for b in rest] == list(range(3, 10))
    assert _keys(rest) == _keys(full[3:])
    assert all(torch.equal(a["images"], b["images"]) for a, b in zip(rest, full[3:]))
    assert sum(b["skipped"] for b in full) >= 1  # the corrupt sample was skipped and counted


def test_ranks_and_workers_read_disjoint_shards(tmp_path):
    urls = expand_urls(str(write_shards(tmp_path / "s", n=32, shards=4)))
    seen = [
        set(_keys(TrainLoader(_stream([urls], bpe=4, rank=r, world=2, workers=0, batch_size=4)).batches(0)))
        for r in range(2)
    ]
    assert not seen[0] & seen[1] and len(seen[0] | seen[1]) == 32


def test_weighted_two_source_mix_matches_ratio(tmp_path):
    a = expand_urls(str(write_shards(tmp_path / "a", n=40, shards=2, source="aaa", size=16)))
    b = expand_urls(str(write_shards(tmp_path / "b", n=40, shards=2, source="bbb", size=16)))
    ds = _stream([a, b], weights=[3.0, 1.0], bpe=1, shuffle_buffer=0)
    raw = ds.raw_stream(0, 0)
    counts = Counter(next(raw)["__key__"][:3] for _ in range(2000))
    frac = counts["aaa"] / 2000
    assert abs(frac - 0.75) < 0.04, counts


def test_weights_must_match_sources():
    with pytest.raises(ConfigError, match="2 entries for 3 sources"):
        load_config(DataConfig, None, ["sources=[{url: a}, {url: b}, {url: c}]", "weights=[1, 2]"])


def test_brace_expansion_sizes_and_missing_paths(tmp_path):
    write_shards(tmp_path / "s", n=30, shards=3)
    urls = expand_urls(str(tmp_path / "s" / "train-{000000..000002}.tar"))
    assert [u.rsplit("/", 1)[1] for u in urls] == [f"train-{i:06d}.tar" for i in range(3)]
    assert sum(shard_sizes(urls).values()) == 30
    from medclip.data import DataError

    with pytest.raises(DataError, match="shard path not found"):
        expand_urls(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty shard folder"):
        expand_urls(str(tmp_path / "empty"))


def test_streams_shards_over_http(tmp_path):
    folder = write_shards(tmp_path / "s", n=16, shards=2)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        urls = expand_urls(base + "/train-{000000..000001}.tar")
        assert sum(shard_sizes(urls).values()) == 16
        got = _keys(TrainLoader(_stream([urls], bpe=4)).batches(0))
        assert sorted(got) == sorted(f"synth-{i:09d}" for i in range(16))
    finally:
        server.shutdown()


def test_reduced_size_jpeg_decode_and_16bit_rescale():
    buf = io.BytesIO()
    Image.new("RGB", (1024, 768), (200, 10, 10)).save(buf, format="JPEG")
    img = decode_image(buf.getvalue(), target_size=224)
    assert img.size == (512, 384) and img.mode == "RGB"  # DCT scale 1/2: 1/4 would make the short side < 224
    sq = io.BytesIO()
    Image.new("RGB", (1024, 1024)).save(sq, format="JPEG")
    assert decode_image(sq.getvalue(), target_size=224).size == (256, 256)
    assert decode_image(buf.getvalue(), target_size=224, draft=False).size == (1024, 768)
    arr = (torch.arange(64 * 64).view(64, 64) * 10).numpy().astype("uint16")
    png = io.BytesIO()
    Image.fromarray(arr).save(png, format="PNG")
    out = decode_image(png.getvalue(), high_bit_depth="minmax")
    px = torch.tensor(list(out.convert("L").getdata()))
    assert px.min() == 0 and px.max() == 255  # full range kept, not clipped at 8 bits
    with pytest.raises(ValueError, match="more than 8 bits"):
        decode_image(png.getvalue())


def test_tar_reader_matches_tarfile_with_long_names_gzip_and_truncation(tmp_path):
    import gzip
    import tarfile

    from medclip.data.tario import iter_members, iter_tar_samples

    long = "d/" + "x" * 150 + "-000000001"
    members = [(f"{long}.txt", b"caption"), (f"{long}.json", b"{}"), ("short-0.txt", b"a" * 700)]
    for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        assert list(iter_members(io.BytesIO(buf.getvalue()))) == members
        assert list(iter_members(io.BytesIO(gzip.compress(buf.getvalue())))) == members
    path = tmp_path / "cut.tar"
    cut = buf.getvalue().index(b"short-0.txt") + 512 + 100
    path.write_bytes(buf.getvalue()[:cut])  # ends inside the third member's data
    got = list(iter_tar_samples(str(path)))
    assert [s["__key__"] for s in got] == [long]
    from medclip.data.tario import TarFormatError

    with pytest.raises(TarFormatError):
        list(iter_tar_samples(str(path), handle_errors=False))


@pytest.mark.parametrize("scheme", ["s3", "gs", "hf"])
def test_object_store_schemes_go_through_fsspec(tmp_path, scheme):
    """s3:// gs:// hf:// reach the shards through fsspec; an in-memory filesystem stands in for the backend
    (s3fs / gcsfs / huggingface_hub need the network), so the URL, size and streaming code paths are real."""
    import fsspec
    from fsspec.implementations.memory import MemoryFileSystem
    from fsspec.registry import _registry

    from medclip.data.check import check_source
    from medclip.data.errors import DataError

    class Store(MemoryFileSystem):
        protocol = (scheme,)
        store, pseudo_dirs = {}, [""]  # a private namespace per scheme

        @classmethod
        def _strip_protocol(cls, path):
            return "/" + str(path).split("://", 1)[-1].lstrip("/")

    previous = _registry.get(scheme)
    fsspec.register_implementation(scheme, Store, clobber=True)
    try:
        folder = write_shards(tmp_path / "s", n=16, shards=2)
        fs = Store()
        for p in sorted(folder.iterdir()):
            fs.pipe(f"/bucket/medical/{p.name}", p.read_bytes())
        urls = expand_urls(f"{scheme}://bucket/medical/train-{{000000..000001}}.tar")
        assert urls == [f"{scheme}://bucket/medical/train-00000{i}.tar" for i in range(2)]
        assert sum(shard_sizes(urls).values()) == 16
        rep = check_source(f"{scheme}://bucket/medical/train-{{000000..000001}}.tar", n_samples=4)
        assert rep.samples == 16 and rep.shards == urls
        got = _keys(TrainLoader(_stream([urls], bpe=4)).batches(0))
        assert sorted(got) == sorted(f"synth-{i:09d}" for i in range(16))
        with pytest.raises(DataError, match="shard not found"):
            list(TrainLoader(_stream([[f"{scheme}://bucket/medical/missing.tar"]], bpe=1)).batches(0))
    finally:
        if previous is None:
            _registry.pop(scheme, None)
        else:
            _registry[scheme] = previous
