"""--executor ray: on a local Ray instance (started here, no network) the shards equal the local executor's
byte for byte, an interrupted build resumes, and skips are counted the same."""

import json
import signal

import pytest

ray = pytest.importorskip("ray")

from test_data_build import SMALL, _digest  # noqa: E402

from data_pipelines.build import BuildInterrupted, build  # noqa: E402
from data_pipelines.config import load_build_config  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    # ray.init installs its own SIGTERM / SIGINT handlers in this process and ray.shutdown leaves them:
    # put the test process's handlers back so later tests see what they installed themselves
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
    for s, h in saved.items():
        signal.signal(s, h)


def _build(out, **kw):
    return build(load_build_config(None, SMALL), out=out, progress=False, log=lambda *a: None, **kw)


def test_ray_executor_is_byte_identical_to_local_and_resumes(local_ray, tmp_path):
    ref = _build(tmp_path / "local", workers=1)
    got = _build(tmp_path / "ray", workers=2, executor="ray")
    assert got.chunks_written == ref.chunks_written == 6
    assert _digest(tmp_path / "ray") == _digest(tmp_path / "local")
    keys = ("samples", "shards", "bytes", "skipped")  # per split; the rest names the output folder
    assert {s: {k: v[k] for k in keys} for s, v in got.splits.items()} == {
        s: {k: v[k] for k in keys} for s, v in ref.splits.items()
    }
    # interrupted after 2 chunks, resumed: the finished chunks are reused, the result is the same bytes
    with pytest.raises(BuildInterrupted):
        _build(tmp_path / "resumed", workers=2, executor="ray", stop_after=2)
    rep = _build(tmp_path / "resumed", workers=2, executor="ray")
    assert rep.chunks_reused == 2 and rep.chunks_written == 4
    assert _digest(tmp_path / "resumed") == _digest(tmp_path / "local")


def test_ray_executor_counts_every_skip_like_the_local_one(local_ray, tmp_path):
    import numpy as np
    from PIL import Image

    root = tmp_path / "imgs" / "normal"
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (40, 40), dtype=np.uint8)).save(root / f"ok{i}.png")
    (root / "empty.png").write_bytes(b"")
    (root / "garbage.png").write_bytes(b"not an image at all")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "tiny.png")
    over = ["sources={}", "sources.f.type=folder", f"sources.f.root={tmp_path / 'imgs'}", "sources.f.modality=xray",
            "sources.f.anatomy=chest", "shards.max_samples=2"]  # fmt: skip
    for ex, w in (("local", 1), ("ray", 2)):
        build(load_build_config(None, over), out=tmp_path / ex, workers=w, progress=False, executor=ex,
              log=lambda *a: None)  # fmt: skip
    man = json.loads((tmp_path / "ray" / "train" / "manifest.json").read_text())
    assert man["skipped"]["by_reason"] == {"too_small": 1, "unreadable": 1, "zero_size": 1}
    assert _digest(tmp_path / "ray") == _digest(tmp_path / "local")
