"""model.grad_checkpointing, model.compile and data.channels_last: same loss and gradients as with them off."""

import pytest
import torch
import torch.nn.functional as F
from shard_fixtures import write_shards

from medclip.models import create_model
from medclip.models.train_options import compile_towers, enable_grad_checkpointing, use_channels_last
from medclip.train import main


def _build(name):
    torch.manual_seed(0)
    model, _, tok = create_model(name, pretrained_text=False)
    model.train()
    return model, tok


def _batch(tok, size=64, n=4):
    g = torch.Generator().manual_seed(1)
    images = torch.randn(n, 3, size, size, generator=g)
    tokens = tok([f"chest x-ray number {i} with finding {i * 3}" for i in range(n)])
    return images, tokens


def _step(model, images, tokens):
    """One forward/backward of the symmetric InfoNCE loss (written out here); returns loss, grads, #saved."""
    saved = [0]

    def pack(t):
        saved[0] += 1
        return t

    model.zero_grad(set_to_none=True)
    torch.manual_seed(2)  # same dropout masks in both runs
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        img = F.normalize(model.encode_image(images), dim=-1)
        txt = F.normalize(model.encode_text(tokens), dim=-1)
        logits = model.logit_scale.exp() * img @ txt.T
        labels = torch.arange(len(images))
        loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return loss.detach(), grads, saved[0]


def _assert_same(a, b, tol):
    loss_a, grads_a, _ = a
    loss_b, grads_b, _ = b
    torch.testing.assert_close(loss_a, loss_b, rtol=tol, atol=tol)
    assert grads_a.keys() == grads_b.keys() and len(grads_a) > 10
    for k in grads_a:
        torch.testing.assert_close(grads_a[k], grads_b[k], rtol=tol, atol=tol, msg=lambda m, k=k: f"{k}: {m}")


@pytest.mark.parametrize("name", ["medclip-tiny", "medclip-tiny-hf"])
def test_grad_checkpointing_same_loss_and_grads(name):
    model, tok = _build(name)
    images, tokens = _batch(tok)
    off = _step(model, images, tokens)
    enable_grad_checkpointing(model)
    on = _step(model, images, tokens)
    _assert_same(off, on, 1e-5)
    # checkpointing is really on in both towers: far fewer activations kept for backward
    assert on[2] < 0.7 * off[2], (on[2], off[2])


def test_grad_checkpointing_hf_tower_enabled():
    model, _ = _build("medclip-tiny-hf")
    enable_grad_checkpointing(model)
    assert any(getattr(m, "gradient_checkpointing", False) is True for m in model.text.transformer.modules())
    assert model.visual.trunk.grad_checkpointing


@pytest.mark.parametrize("name", ["medclip-tiny", "medclip-tiny-hf"])
def test_channels_last_same_loss_and_grads(name):
    model, tok = _build(name)
    images, tokens = _batch(tok)
    off = _step(model, images, tokens)
    use_channels_last(model)
    seen = []
    conv = next(m for m in model.visual.modules() if isinstance(m, torch.nn.Conv2d))
    conv.register_forward_pre_hook(lambda m, a: seen.append(a[0].is_contiguous(memory_format=torch.channels_last)))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    on = _step(model, images, tokens)
    assert seen == [True]  # a plain NCHW batch reaches the patch conv in channels-last
    _assert_same(off, on, 1e-5)


@pytest.mark.slow  # compiling the towers takes ~45 s on a loaded 2-core CPU
def test_compile_towers_same_loss_and_grads_keys_plain():
    model, tok = _build("medclip-tiny")
    keys = list(model.state_dict())
    images, tokens = _batch(tok)
    off = _step(model, images, tokens)
    compile_towers(model)
    on = _step(model, images, tokens)
    _assert_same(off, on, 1e-4)
    assert list(model.state_dict()) == keys


def test_trainer_runs_with_checkpointing_and_channels_last(tmp_path):
    shards = write_shards(tmp_path / "train", n=16, shards=1)
    args = [
        f"run_dir={tmp_path / 'run'}",
        f"data.train={shards}",
        "model.name=medclip-tiny",
        "data.batch_size=8",
        "data.workers=0",
        "total_steps=2",
        "progress=false",
        "tensorboard=false",
        "model.grad_checkpointing=true",
        "data.channels_last=true",
    ]
    assert main(args) == 0
    assert (tmp_path / "run" / "config.yaml").read_text().count("channels_last: true") == 1


def test_bench_train_options_smoke():
    import re
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, str(root / "bench/train_options.py"), "--tiny", "--skip-compile", "--steps", "1"]
    p = subprocess.run(cmd + ["--rounds", "1"], capture_output=True, text=True, timeout=600, cwd=root)
    assert p.returncode == 0, p.stderr[-3000:]
    ratio = float(re.search(r"^grad_checkpointing_activation_ratio: ([\d.]+) \(target", p.stdout, re.M).group(1))
    assert 0 < ratio < 0.6  # medclip-tiny: 0.26 measured
    assert re.search(r"^channels_last_speedup: [\d.]+ \(target >= 1.05", p.stdout, re.M)
