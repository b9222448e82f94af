"""Multi-process training under torchrun (gloo on CPU): DDP equivalence and restart after kill -9."""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from shard_fixtures import write_shards

from medclip.train import main
from medclip.train.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
COMMON = [
    "model.name=medclip-tiny",
    "data.workers=0",
    "data.split_by=sample",
    "data.shuffle_buffer=0",
    "optim.warmup_steps=1",
    "optim.lr=1e-3",
    "progress=false",
    "tensorboard=false",
    "log_every_n_steps=1",
]


def torchrun(nproc, args, *, env_extra=None, restarts=0, timeout=240):
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        f"--max-restarts={restarts}",
        str(ROOT / "train.py"),
        *args,
    ]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    return p


def main_1thread(argv):
    """In-process run with torchrun's thread count (OMP_NUM_THREADS=1), so float results are bit-comparable."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return main(argv)
    finally:
        torch.set_num_threads(n)


def losses(run_dir):
    return [r["loss"] for r in map(json.loads, open(run_dir / "metrics.jsonl")) if "loss" in r]


def test_two_process_ddp_matches_one_process_with_same_global_batch(tmp_path):
    shards = write_shards(tmp_path / "s", n=32, shards=2)
    one = ["total_steps=3", f"data.train={shards}", *COMMON]
    ev = ["eval.name=shards", f"eval.args.shards={shards}", "eval.every_n_steps=3"]  # sharded over the 2 ranks
    torchrun(2, [f"run_dir={tmp_path / 'ddp'}", "data.batch_size=4", *one, *ev])
    res = json.loads((tmp_path / "ddp/eval/step_00000003.json").read_text())
    assert 0.0 <= res["shards/top1"] <= 1.0 and res["shards/classes"] == 6.0
    assert main_1thread([f"run_dir={tmp_path / 'single'}", "data.batch_size=8", *one]) == 0  # in-process: 1 rank
    a, b = losses(tmp_path / "ddp"), losses(tmp_path / "single")
    assert len(a) == len(b) == 3
    for x, y in zip(a, b):
        assert abs(x - y) < 1e-5 * max(1.0, abs(y)), (a, b)
    wa = load_checkpoint(tmp_path / "ddp/checkpoints/latest.pt")["state_dict"]
    wb = load_checkpoint(tmp_path / "single/checkpoints/latest.pt")["state_dict"]
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-3, atol=1e-4)


def test_killed_worker_restarts_from_last_checkpoint_and_matches(tmp_path):
    shards = write_shards(tmp_path / "s", n=32, shards=2)
    args = ["total_steps=6", "checkpoint.every_n_steps=2", f"data.train={shards}", "data.batch_size=8", *COMMON]
    p = torchrun(
        1,
        ["--resume", "auto", f"run_dir={tmp_path / 'killed'}", *args],
        restarts=1,
        env_extra={"MEDCLIP_FAULT_KILL_AT_STEP": "3"},
    )
    assert "resumed from" in p.stdout and "at step 2" in p.stdout  # killed after step 3, last checkpoint step 2
    assert main_1thread([f"run_dir={tmp_path / 'clean'}", *args]) == 0
    a = load_checkpoint(tmp_path / "killed/checkpoints/latest.pt")
    b = load_checkpoint(tmp_path / "clean/checkpoints/latest.pt")
    assert a["step"] == b["step"] == 6
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
