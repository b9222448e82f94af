"""The loop's pieces (issue 11): explicit state, callbacks instead of in-loop hooks, throughput fields."""

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
from shard_fixtures import write_shards
from test_train_main import BASE

import medclip.train.loop as loop_mod
from medclip.config import load_config
from medclip.train import TrainConfig
from medclip.train.callbacks import FAULT_ENV, KillAtStep, from_env
from medclip.train.loop import _throughput_fields
from medclip.train.state import LoopState
from medclip.train.trainer import train


def test_fault_injection_is_a_callback_built_once_from_the_environment():
    (cb,) = from_env({FAULT_ENV: "3"})
    assert isinstance(cb, KillAtStep) and cb.step == 3
    assert from_env({FAULT_ENV: "3", "TORCHELASTIC_RESTART_COUNT": "1"}) == []  # the restarted attempt runs on
    assert from_env({}) == []
    assert FAULT_ENV not in Path(loop_mod.__file__).read_text()  # nothing in the hot loop reads it


def test_throughput_fields_from_one_interval(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "medclip.train.flops", None)  # import fails: base fields only
    state = LoopState(samples_seen=1300, interval_samples=100)
    run = SimpleNamespace(env=SimpleNamespace(world_size=4), model=None, cfg=None)
    tp = _throughput_fields(state, run, interval_s=4.0, data_wait_s=1.0)
    assert tp == {"samples_per_s": 300.0, "samples_per_s_per_device": 75.0, "data_wait_frac": 0.25}


def test_throughput_fields_use_flops_when_present(monkeypatch):
    calls = []

    def fake(rate, model, cfg):
        calls.append(rate)
        return {"tflops_per_device": 1.5, "mfu": 0.1, "samples_per_s_per_device": -1}

    import medclip.train.flops as flops

    monkeypatch.setattr(flops, "tflops_and_mfu", fake)
    state = LoopState(samples_seen=200, interval_samples=0)
    run = SimpleNamespace(env=SimpleNamespace(world_size=2), model=None, cfg=None)
    tp = _throughput_fields(state, run, interval_s=2.0, data_wait_s=0.0)
    assert calls == [100.0] and tp["mfu"] == 0.1 and tp["tflops_per_device"] == 1.5
    assert tp["samples_per_s_per_device"] == 50.0  # ours, not overwritten


class Record:
    def __init__(self):
        self.steps, self.batches = [], 0

    def on_fetch(self, loop, micro):
        self.batches += len(micro)

    def on_step_end(self, loop):
        self.steps.append(loop.state.step)


def test_callbacks_see_every_step_and_metrics_carry_throughput(tmp_path):
    folder = write_shards(tmp_path / "s", n=32, shards=2)
    cfg = load_config(TrainConfig, [], [f"run_dir={tmp_path / 'r'}", f"data.train={folder}", *BASE, "epochs=1",
                                        "accum_freq=2"])  # fmt: skip
    rec = Record()
    out = train(cfg, callbacks=[rec])
    assert rec.steps == [1, 2] and rec.batches == 4 and out["step"] == 2
    rows = [json.loads(x) for x in open(tmp_path / "r" / "metrics.jsonl")]
    assert [r["step"] for r in rows] == [1, 2]
    for r in rows:
        assert r["samples_per_s"] > 0 and r["samples_per_s_per_device"] == pytest.approx(r["samples_per_s"])
        assert 0.0 <= r["data_wait_frac"] <= 1.0 and math.isfinite(r["loss"])
        assert r["data/shards_damaged"] == 0 and r["data/samples_skipped"] == 0
