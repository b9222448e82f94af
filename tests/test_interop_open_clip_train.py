"""open_clip_train on medclip shards: the flags printed by ``medclip-shards verify`` / stored in the manifest,
stock open_clip_train 3.3.0's end-of-shard crash, and ``python -m medclip.compat.open_clip_train``."""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from data_pipelines.interop import brace_pattern

BIN = Path(sys.executable).parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "TQDM_DISABLE": "1"}
TRAIN = ["--model", "medclip-tiny", "--batch-size", "4", "--epochs", "1", "--workers", "1", "--report-to", "",
         "--warmup", "1", "--lr", "1e-4", "--log-every-n-steps", "1", "--precision", "fp32"]  # fmt: skip
STOCK = "import sys, medclip.models; from open_clip_train.main import main; main(sys.argv[1:])"


def test_brace_pattern():
    assert brace_pattern(["train-000000.tar"]) == "train-000000.tar"
    assert brace_pattern([f"train-{i:06d}.tar" for i in range(3, 7)]) == "train-{000003..000006}.tar"
    assert brace_pattern(["a-000000.tar", "a-000002.tar"]) == "a-000000.tar::a-000002.tar"
    assert brace_pattern(["x-00.tar.gz", "x-01.tar.gz"]) == "x-{00..01}.tar.gz"
    with pytest.raises(ValueError):
        brace_pattern([])


@pytest.fixture(scope="module")
def demo_shards(tmp_path_factory):
    out = tmp_path_factory.mktemp("shards") / "demo"
    sizes = ["sources.demo.train=1", "sources.demo.val=1", "sources.demo.test=1", "sources.demo.test_shifted=1"]
    args = ["build", "--out", str(out), "--workers", "1", "--no-progress", *sizes, "shards.max_samples=5"]
    r = subprocess.run([str(BIN / "medclip-shards"), *args], capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0, r.stderr
    return out, r.stdout


def _flags(demo_shards) -> list[str]:
    out, build_log = demo_shards
    r = subprocess.run([str(BIN / "medclip-shards"), "verify", str(out / "train")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    line = next(ln for ln in r.stdout.splitlines() if "open_clip_train:" in ln)
    flags = line.split("open_clip_train:", 1)[1].strip()
    assert flags in build_log  # the build summary prints the same flags
    manifest = json.loads((out / "train" / "manifest.json").read_text())
    assert manifest["open_clip_train"] == {"train_data": "train-{000000..000003}.tar", "train_num_samples": 17}
    pattern = str(out / "train" / "train-{000000..000003}.tar")
    want = ["--train-data", pattern, "--train-num-samples", "17", "--dataset-type", "webdataset"]
    assert shlex.split(flags) == want
    return shlex.split(flags)


def _train(cmd: list[str], flags: list[str], logs: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*cmd, *flags, *TRAIN, "--logs", str(logs)],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=logs.parent,
        timeout=600,
    )


def test_compat_entry_point_trains_on_medclip_shards(tmp_path, demo_shards):
    r = _train([sys.executable, "-m", "medclip.compat.open_clip_train"], _flags(demo_shards), tmp_path / "logs")
    assert r.returncode == 0, r.stderr[-3000:]
    (run,) = (tmp_path / "logs").iterdir()
    log = (run / "out.log").read_text()
    steps = [ln for ln in log.splitlines() if "Train Epoch: 0" in ln]
    assert len(steps) >= 4 and "100%" in steps[-1]  # 17 samples, batch 4: every step of the epoch
    assert (run / "checkpoints" / "epoch_1.pt").is_file()


@pytest.mark.slow
def test_stock_open_clip_train_crashes_at_the_end_of_a_shard(tmp_path, demo_shards):
    """Why the compat entry point exists: the end-of-shard marker of webdataset 1.0.2 (``KeyError: 'fname'``)."""
    r = _train([sys.executable, "-c", STOCK], _flags(demo_shards), tmp_path / "logs")
    assert r.returncode != 0 and "KeyError: 'fname'" in r.stderr
