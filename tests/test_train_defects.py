"""Trainer defects (issues 12, 13) driven through the real ``medclip-train`` console script.

Short runs are logged, ``device=cuda`` without a GPU is one line, stale checkpoint temporaries are
removed at start-up, and ``.tar.gz`` shards in a folder are trained on.
"""

import gzip
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from shard_fixtures import write_shards
from test_train_main import BASE, run

from medclip.data.urls import expand_urls
from medclip.train import main, register_evaluator
from medclip.train.checkpoint import load_checkpoint

SCRIPT = Path(sys.executable).parent / "medclip-train"


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_shards(tmp_path_factory.mktemp("shards") / "train", n=32, shards=2)


def cli(*args, env=None):
    """Run the installed console script in a subprocess; returns (rc, stdout, stderr)."""
    full_env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", **(env or {})}
    p = subprocess.run([str(SCRIPT), *map(str, args)], capture_output=True, text=True, env=full_env, timeout=300)
    return p.returncode, p.stdout, p.stderr


def rows(run_dir):
    return [json.loads(x) for x in open(run_dir / "metrics.jsonl")]


def test_run_shorter_than_log_interval_logs_its_last_step(tmp_path, shards):
    rd = tmp_path / "short"
    rc, out, err = cli(
        f"run_dir={rd}", f"data.train={shards}", *BASE, "total_steps=8", "stop_after_steps=3", "log_every_n_steps=50"
    )
    assert rc == 0, err
    logged = [r for r in rows(rd) if "loss" in r]
    assert [r["step"] for r in logged] == [3]
    assert math.isfinite(logged[0]["loss"]) and logged[0]["samples_seen"] == 3 * 8
    assert "loss nan" not in out
    assert "stop_after_steps=3 at step 3/8 in" in out and f"loss {logged[0]['loss']:.4f}," in out
    # independent reference: the same run logging every step has the same loss at step 3
    assert run(tmp_path, shards, "total_steps=8", "stop_after_steps=3", name="every")[0] == 0
    ref = {r["step"]: r["loss"] for r in rows(tmp_path / "every") if "loss" in r}
    assert sorted(ref) == [1, 2, 3]
    assert logged[0]["loss"] == pytest.approx(ref[3], rel=1e-6)


def test_signal_between_log_steps_logs_the_stopping_step(tmp_path, shards, capsys):
    @register_evaluator("sigterm_at_2_defects")
    def make(args):
        def ev(model, tokenizer, *, device, rank, world_size, step, epoch):
            if step == 2:
                os.kill(os.getpid(), signal.SIGTERM)
            return {"ok": 1.0}

        return ev

    extra = ["epochs=3", "eval.name=sigterm_at_2_defects", "eval.every_n_steps=1", "log_every_n_steps=50"]
    rc, rd = run(tmp_path, shards, *extra)
    assert rc == 0
    logged = [r for r in rows(rd) if "loss" in r]
    assert [r["step"] for r in logged] == [3] and math.isfinite(logged[0]["loss"])  # the signal is seen at step 3
    assert "signal 15 at step 3/12 in" in capsys.readouterr().out


@pytest.mark.parametrize(
    "device, expect",
    [
        ("cuda", "error: device=cuda requested but no CUDA GPU is available"),
        ("cuda:1", "error: device=cuda:1 requested but no CUDA GPU is available"),
        ("gpu", "error: device='gpu' is not a device (use auto, cpu, cuda or cuda:N)"),
    ],
)
def test_unusable_device_is_one_line(tmp_path, shards, device, expect):
    rd = tmp_path / "run"
    rc, out, err = cli(f"run_dir={rd}", f"data.train={shards}", *BASE, "total_steps=1", f"device={device}")
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith(expect), err
    assert "Traceback" not in err and not (rd / "checkpoints").exists()


def test_stale_checkpoint_temporaries_are_removed_and_ignored_by_resume(tmp_path, shards):
    rd = tmp_path / "run"
    ckpts = rd / "checkpoints"
    ckpts.mkdir(parents=True)
    planted = ["latest.pt.tmp12345", ".step_00000001.pt.tmp12345", ".step_00000001.optim.pt.tmp7", ".latest.tmp99"]
    for name in planted:
        (ckpts / name).write_bytes(b"PK\x03\x04 half a checkpoint")
    keep = ckpts / "notes.tmp12345"  # not a checkpoint temporary: left alone
    keep.write_text("mine")
    rc, out, err = cli("--resume", "auto", f"run_dir={rd}", f"data.train={shards}", *BASE, "total_steps=2")
    assert rc == 0, err
    assert "resumed from" not in out  # a temporary is never taken for a checkpoint
    assert f"removed {len(planted)} partial checkpoint file(s) of an interrupted save" in out
    assert not any((ckpts / n).exists() for n in planted) and keep.read_text() == "mine"
    assert load_checkpoint(ckpts / "latest.pt")["step"] == 2
    # next to a real checkpoint: resume takes latest.pt, the new partial file goes
    first = torch.load(ckpts / "latest.pt", weights_only=True)["state_dict"]
    (ckpts / ".step_00000003.pt.tmp4242").write_bytes(b"\x80\x02 truncated")
    assert main(["--resume", "auto", f"run_dir={rd}", f"data.train={shards}", *BASE, "total_steps=3"]) == 0
    assert not (ckpts / ".step_00000003.pt.tmp4242").exists()
    resumed = load_checkpoint(ckpts / "latest.pt")
    assert resumed["step"] == 3 and any(not torch.equal(first[k], resumed["state_dict"][k]) for k in first)
    assert not [p.name for p in ckpts.iterdir() if re.search(r"\.tmp\d+$", p.name) and p != keep]


def _gzip_shard(folder: Path, name: str, new_name: str) -> None:
    with open(folder / name, "rb") as src, gzip.open(folder / new_name, "wb") as dst:
        shutil.copyfileobj(src, dst)
    (folder / name).unlink()
    for meta in ("sizes.json", "manifest.json"):
        d = json.loads((folder / meta).read_text())
        table = d if meta == "sizes.json" else d["shards"]
        table[new_name] = table.pop(name)
        (folder / meta).write_text(json.dumps(d))


def test_tar_gz_shards_in_a_folder_are_trained_on(tmp_path):
    from test_loader_stream import _keys, _stream

    from medclip.data.loader import TrainLoader

    folder = write_shards(tmp_path / "mixed", n=24, shards=3)
    _gzip_shard(folder, "train-000001.tar", "train-000001.tar.gz")
    _gzip_shard(folder, "train-000002.tar", "train-000002.tgz")
    urls = expand_urls(str(folder))
    assert [Path(u).name for u in urls] == ["train-000000.tar", "train-000001.tar.gz", "train-000002.tgz"]
    assert expand_urls(str(folder)) == urls  # deterministic
    epoch = list(TrainLoader(_stream([urls], bpe=6)).batches(0))
    assert sorted(_keys(epoch)) == sorted(f"synth-{i:09d}" for i in range(24))  # every shard's samples, once
    rd = tmp_path / "run"
    rc, out, err = cli(f"run_dir={rd}", f"data.train={folder}", *BASE, "epochs=1", "data.shuffle_buffer=4")
    assert rc == 0, err
    assert "24 samples/epoch" in out and "3 steps" in out and "0 corrupt samples skipped" in out
    assert [r["step"] for r in rows(rd) if "loss" in r] == [1, 2, 3]


def test_folder_of_only_gzip_shards_is_not_empty_and_a_folder_without_shards_still_is(tmp_path):
    folder = write_shards(tmp_path / "gz", n=8, shards=1)
    _gzip_shard(folder, "train-000000.tar", "train-000000.tar.gz")
    assert [Path(u).name for u in expand_urls(str(folder))] == ["train-000000.tar.gz"]
    (tmp_path / "none").mkdir()
    (tmp_path / "none" / "notes.txt").write_text("x")
    from medclip.data.errors import DataError

    with pytest.raises(DataError, match=r"has no \*\.tar, \*\.tar\.gz or \*\.tgz shards"):
        expand_urls(str(tmp_path / "none"))
