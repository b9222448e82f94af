"""``exclusion-list``: pixel sha256 of an eval set (shard or image folder); ``verify --exclude`` checks
training splits only, so a list made from the test split passes on the whole build."""

import hashlib
import io
import tarfile

import numpy as np
from PIL import Image

from data_pipelines.build import build, read_exclusions
from data_pipelines.cli import cli
from data_pipelines.config import load_build_config

SMALL = [
    "sources.demo.classes=[xray/normal, fundus/glaucoma]", "sources.demo.train=6", "sources.demo.val=1",
    "sources.demo.test=3", "sources.demo.test_shifted=0", "sources.demo.image_size=48", "image.format=png",
]  # fmt: skip


def _png_hashes(split_dir) -> set[str]:
    """Hash the decoded PNG members by hand (lossless, never resized here): sha256 of the uint8 array."""
    out = set()
    for tar in split_dir.glob("*.tar"):
        with tarfile.open(tar) as tf:
            for m in tf:
                if m.name.endswith(".png"):
                    img = Image.open(io.BytesIO(tf.extractfile(m).read()))
                    arr = np.asarray(img.convert("L" if img.mode in ("L", "1") else "RGB"), np.uint8)
                    out.add(hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest())
    return out


def test_exclusion_list_from_shards_and_images_then_verify(tmp_path, capsys):
    root = tmp_path / "shards"
    build(load_build_config(None, SMALL), out=root, workers=1, progress=False, log=lambda *a: None)
    ex = tmp_path / "eval_sha256.txt"
    assert cli(["exclusion-list", "--from", str(root / "test"), "--out", str(ex)]) == 0
    want = _png_hashes(root / "test")
    assert read_exclusions([str(ex)]) == want and len(want) == 6
    assert ex.read_text().startswith("# pixel sha256 exclusion list from: ")
    # verify with that list: the test split it came from is not compared, the training splits are
    assert cli(["verify", str(root), "--exclude", str(ex)]) == 0
    assert cli(["verify", str(root), "--exclude", str(ex), "--exclude-splits", "train,val,test"]) == 1
    # a training image on the list fails verify
    leak = tmp_path / "leak.txt"
    leak.write_text(sorted(_png_hashes(root / "train"))[0] + "\n")
    assert cli(["verify", str(root), "--exclude", str(leak)]) == 1
    # an image folder (a suite's imagefolder layout), including a broken file
    imgs = tmp_path / "suite" / "normal"
    imgs.mkdir(parents=True)
    rng = np.random.default_rng(1)
    arrays = [rng.integers(0, 256, (20, 24), dtype=np.uint8), rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)]
    for i, a in enumerate(arrays):
        Image.fromarray(a).save(imgs / f"{i}.png")
    (imgs / "broken.png").write_bytes(b"not an image")
    out2 = tmp_path / "suite.txt"
    assert cli(["exclusion-list", "--from", str(tmp_path / "suite"), "--out", str(out2)]) == 0
    assert read_exclusions([str(out2)]) == {hashlib.sha256(a.tobytes()).hexdigest() for a in arrays}
    assert "1 undecodable files ignored" in capsys.readouterr().out
    # errors: one line, status 2
    assert cli(["exclusion-list", "--from", str(tmp_path / "nope"), "--out", str(out2)]) == 2
    (tmp_path / "empty").mkdir()
    assert cli(["exclusion-list", "--from", str(tmp_path / "empty"), "--out", str(out2)]) == 2
    assert "no shards or images" in capsys.readouterr().err
