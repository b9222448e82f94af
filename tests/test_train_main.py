"""End-to-end trainer runs in-process on tiny shards (medclip-tiny): files, checkpoints, resume, errors."""

import json
import math
import os
import signal

import open_clip
import pytest
import torch
import yaml
from shard_fixtures import write_shards

import medclip
from medclip.losses import register_loss
from medclip.train import main, register_evaluator
from medclip.train.checkpoint import load_checkpoint

BASE = [
    "model.name=medclip-tiny",
    "data.batch_size=8",
    "data.workers=0",
    "optim.warmup_steps=2",
    "optim.lr=1e-3",
    "progress=false",
    "tensorboard=false",
    "log_every_n_steps=1",
    "data.shuffle_buffer=8",
    "data.shuffle_initial=4",
]


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_shards(tmp_path_factory.mktemp("shards") / "train", n=32, shards=2)


def run(tmp, shards, *extra, name="run"):
    rc = main([f"run_dir={tmp / name}", f"data.train={shards}", *BASE, *extra])
    return rc, tmp / name


def weights(run_dir):
    return load_checkpoint(run_dir / "checkpoints" / "latest.pt")["state_dict"]


def losses(run_dir):
    return [r["loss"] for r in map(json.loads, open(run_dir / "metrics.jsonl")) if "loss" in r]


def test_run_folder_checkpoint_and_plain_open_clip_load(tmp_path, shards):
    rc, rd = run(tmp_path, shards, "epochs=2", "tensorboard=true")
    assert rc == 0
    saved = yaml.safe_load(open(rd / "config.yaml"))
    assert saved["model"]["name"] == "medclip-tiny" and saved["data"]["batch_size"] == 8
    assert len(losses(rd)) == 8 and all(math.isfinite(x) for x in losses(rd))
    assert any((rd / "tensorboard").iterdir())
    path = rd / "checkpoints" / "latest.pt"
    ckpt = torch.load(path, weights_only=True)
    assert {"epoch", "step", "name", "state_dict", "optimizer", "scaler", "config"} <= set(ckpt)
    assert ckpt["step"] == 8 and ckpt["epoch"] == 2 and ckpt["name"] == "medclip-tiny"
    assert not any(k.startswith(("module.", "_orig_mod.")) for k in ckpt["state_dict"])
    init, _, _ = medclip.create_model("medclip-tiny")  # same seed-free init differs from trained weights
    assert not torch.equal(init.state_dict()["visual.conv1.weight"], ckpt["state_dict"]["visual.conv1.weight"])
    oc, _, _ = open_clip.create_model_and_transforms("medclip-tiny", pretrained=str(path))
    mine, _, tok = medclip.create_model("medclip-tiny")
    mine.load_state_dict(ckpt["state_dict"])
    x, t = torch.randn(3, 3, 64, 64), tok(["chest x-ray", "brain MRI", "fundus"])
    oc.eval()
    assert torch.equal(oc.encode_image(x), mine.encode_image(x))
    assert torch.equal(oc.encode_text(t), mine.encode_text(t))


def test_resume_auto_equals_uninterrupted_run(tmp_path, shards):
    # 4 steps/epoch, 6 steps: the interruption (step 3) is mid-epoch, the run crosses an epoch boundary
    assert run(tmp_path, shards, "total_steps=6", name="full")[0] == 0
    split = ["checkpoint.async_save=true", "checkpoint.separate_optimizer=true"]  # exercised on the resumed run
    assert run(tmp_path, shards, "total_steps=6", "stop_after_steps=3", *split, name="part")[0] == 0
    part = tmp_path / "part/checkpoints"
    assert load_checkpoint(part / "latest.pt")["step"] == 3
    raw = torch.load(part / "latest.pt", weights_only=True)
    assert raw["optimizer"] is None and (part / raw["optimizer_file"]).is_file()
    assert (
        main(["--resume", "auto", f"run_dir={tmp_path / 'part'}", f"data.train={shards}", *BASE, "total_steps=6"]) == 0
    )
    a, b = weights(tmp_path / "full"), weights(tmp_path / "part")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert losses(tmp_path / "part")[3:] == losses(tmp_path / "full")[3:]


def test_feature_cache_accumulation_equals_bigger_batch(tmp_path, shards):
    assert run(tmp_path, shards, "total_steps=3", name="big")[0] == 0
    assert run(tmp_path, shards, "total_steps=3", "data.batch_size=4", "accum_freq=2", name="acc")[0] == 0
    a, b = weights(tmp_path / "big"), weights(tmp_path / "acc")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-3, atol=1e-4)  # Adam amplifies float noise
    assert losses(tmp_path / "acc") == pytest.approx(losses(tmp_path / "big"), rel=1e-5)


def test_locked_text_tower_trains_only_the_projection(tmp_path, shards):
    extra = ["model.name=medclip-tiny-hf", "model.lock_text=true", "model.lock_text_proj=false", "total_steps=2"]
    assert run(tmp_path, shards, *extra)[0] == 0
    init, _, _ = medclip.create_model("medclip-tiny-hf")
    w = weights(tmp_path / "run")
    frozen = [k for k in w if k.startswith("text.transformer.")]
    assert frozen and all(torch.equal(w[k], init.state_dict()[k]) for k in frozen)
    assert not torch.equal(w["text.proj.0.weight"], init.state_dict()["text.proj.0.weight"])


def test_corrupt_images_are_skipped_and_counted(tmp_path, capsys):
    bad = write_shards(tmp_path / "bad", n=32, shards=2, corrupt=(1, 7, 20))
    rc, rd = run(tmp_path, bad, "epochs=1")
    assert rc == 0
    rows = [json.loads(x) for x in open(rd / "metrics.jsonl")]
    assert rows[-1]["skipped_samples"] == 3
    assert "3 corrupt samples skipped" in capsys.readouterr().out


@pytest.mark.parametrize(
    "case, expect",
    [
        ("missing", "shard path not found"),
        ("empty", "empty shard folder"),
        ("typo", "unknown config key 'optim.lrr'. Did you mean: lr"),
        ("model", "unknown model 'medclip-tiyn'. Did you mean: medclip-tiny"),
        ("nocaption", "have no caption"),
        ("dotted", "keys with dots"),
        ("png16", "8-bit decode would clip"),
        ("allcorrupt", "are unusable (0 without image, 16 undecodable)"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, shards, capsys, case, expect):
    data, extra = shards, []
    if case == "missing":
        data = tmp_path / "nowhere"
    elif case == "empty":
        data = tmp_path / "empty"
        data.mkdir()
    elif case == "typo":
        extra = ["optim.lrr=1"]
    elif case == "model":
        extra = ["model.name=medclip-tiyn"]
    elif case in ("nocaption", "dotted", "png16", "allcorrupt"):
        kw = {
            "nocaption": {"no_caption": tuple(range(16))},
            "dotted": {"dotted": True},
            "png16": {"png16": True},
            "allcorrupt": {"corrupt": tuple(range(16))},
        }
        data = write_shards(tmp_path / case, n=16, shards=1, **kw[case])
    rc, _ = run(tmp_path, data, *extra)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: ") and expect in err[0], err


def test_nonfinite_loss_skips_steps_then_stops(tmp_path, shards, capsys):
    @register_loss("nan_after_2")
    class NanAfter2(torch.nn.Module):
        def __init__(self, **_):
            super().__init__()
            self.calls = 0

        def forward(self, *, image_features, text_features, logit_scale, **_):
            self.calls += 1
            loss = (logit_scale * image_features @ text_features.T).diagonal().mean().neg()
            return {"contrastive_loss": loss * (float("nan") if self.calls > 2 else 1.0)}

    rc, rd = run(tmp_path, shards, "loss.name=nan_after_2", "max_bad_steps=3", "epochs=3")
    err = capsys.readouterr().err
    assert rc == 2 and "3 consecutive steps with a non-finite loss" in err
    assert not (rd / "checkpoints" / "latest.pt").exists() or load_checkpoint(rd / "checkpoints/latest.pt")


def test_sigterm_writes_a_checkpoint_and_stops(tmp_path, shards, capsys):
    @register_evaluator("sigterm_at_3")
    def make(args):
        def ev(model, tokenizer, *, device, rank, world_size, step, epoch):
            if step == 3:
                os.kill(os.getpid(), signal.SIGTERM)
            return {"ok": 1.0}

        return ev

    before = signal.getsignal(signal.SIGTERM)
    rc, rd = run(tmp_path, shards, "epochs=3", "eval.name=sigterm_at_3", "eval.every_n_steps=1")
    assert rc == 0
    assert load_checkpoint(rd / "checkpoints" / "latest.pt")["step"] == 4  # the signal is seen after step 4
    assert "signal 15 at step 4/12" in capsys.readouterr().out
    assert signal.getsignal(signal.SIGTERM) is before  # the trainer puts back the handler it found


def test_export_loads_as_open_clip_local_dir(tmp_path, shards):
    from medclip.export import cli as export_cli

    assert run(tmp_path, shards, "total_steps=1", "model.name=medclip-tiny-hf")[0] == 0
    ckpt = tmp_path / "run" / "checkpoints" / "latest.pt"
    export_cli([str(ckpt), str(tmp_path / "exp"), "--hub-id", "medclip-test/tiny-hf"])  # tower not on the hub
    assert {p.name for p in (tmp_path / "exp").iterdir()} >= {"open_clip_config.json", "open_clip_model.safetensors"}
    # offline: medclip builds the tower from the folder's config.json (plain open_clip: tests/test_export.py)
    model, preprocess, _ = medclip.create_model(f"local-dir:{tmp_path / 'exp'}")
    tok = open_clip.get_tokenizer(f"local-dir:{tmp_path / 'exp'}")
    mine, _, mtok = medclip.create_model("medclip-tiny-hf", pretrained=str(ckpt))
    x = torch.randn(2, 3, 64, 64)
    model.eval()
    assert torch.equal(model.encode_image(x), mine.encode_image(x))
    assert torch.equal(tok(["a chest x-ray"]), mtok(["a chest x-ray"]))
    assert torch.equal(model.encode_text(tok(["a chest x-ray"])), mine.encode_text(mtok(["a chest x-ray"])))


@pytest.mark.parametrize("loss", ["siglip", "multipos"])
def test_other_losses_train(tmp_path, shards, loss):
    extra = [f"loss.name={loss}", "total_steps=2"] + (["model.init_logit_bias=-10"] if loss == "siglip" else [])
    rc, rd = run(tmp_path, shards, *extra)
    assert rc == 0 and all(math.isfinite(x) for x in losses(rd))
    if loss == "siglip":
        assert "logit_bias" in weights(rd)


@pytest.mark.slow
def test_torch_compile_checkpoint_keys_stay_plain(tmp_path, shards):
    assert run(tmp_path, shards, "model.compile=true", "total_steps=2")[0] == 0
    assert not any("_orig_mod" in k for k in weights(tmp_path / "run"))
