"""Analytic FLOPs of the towers against torch's FlopCounterMode on the tiny models; peak table; MFU fields."""

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from medclip.models import create_model
from medclip.train.config import TrainConfig
from medclip.train.flops import TowerShape, flops_per_sample, peak_flops, tflops_and_mfu, tokenizer_length


def _counted(fn) -> int:
    # the math SDPA backend decomposes attention into bmm's, which the counter sees; the fused CPU flash kernel
    # (_scaled_dot_product_flash_attention_for_cpu) has no FLOP formula registered and would count 0
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as fc:
        fn()
    return fc.get_total_flops()


@pytest.mark.parametrize("name", ["medclip-tiny", "medclip-tiny-hf"])
def test_analytic_forward_and_training_flops_match_flop_counter(name):
    model, _, tok = create_model(name)
    b = 3
    x = torch.randn(b, 3, 64, 64)
    t = tok(["pleural effusion", "a chest x-ray", "cardiomegaly"])
    f = flops_per_sample(model, text_tokens=t.shape[1])
    # forward: only matmuls are counted by both (layer norm, softmax, GELU, adds: neither) -> equal to 0.1%
    img = _counted(lambda: model.encode_image(x)) / b
    txt = _counted(lambda: model.encode_text(t)) / b
    assert abs(img - f["image_forward"]) <= 1e-3 * img, (img, f)
    assert abs(txt - f["text_forward"]) <= 1e-3 * txt, (txt, f)

    # training: the counter sees the real backward, which skips the patch conv's input gradient (the pixels
    # need none): 3 x forward minus exactly that one conv-shaped product. Everything else is 2 x forward.
    def step():
        (model.encode_image(x).sum() + model.encode_text(t).sum()).backward()

    train = _counted(step) / b
    conv = model.visual.trunk.patch_embed.proj if hasattr(model.visual, "trunk") else model.visual.conv1
    n_patches = (64 // conv.kernel_size[0]) ** 2
    conv_fwd = 2 * n_patches * conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1] * conv.out_channels
    assert abs(train - (f["train"] - conv_fwd)) <= 1e-3 * train, (train, f)
    assert f["train"] == 3 * f["forward"]


def test_tokenizer_length_of_hf_tower_is_the_padded_length():
    # the HF tower's context_length is max_position_embeddings (64); captions are padded to 32
    model, _, tok = create_model("medclip-tiny-hf")
    assert model.text.context_length == 64 and tok(["x"]).shape[1] == 32 == tokenizer_length("medclip-tiny-hf")


def test_vit_b16_formula_matches_the_published_count():
    # ViT-B/16 at 224: 12 blocks, width 768, MLP 3072, 197 tokens -> ~17.6 GMACs (timm / fvcore: 17.58 G)
    vit = TowerShape(12, 768, 3072, 197, stem_flops=2 * 196 * 768 * 768)
    assert abs(vit.forward_flops() / 2 / 1e9 - 17.58) < 0.05


def test_peak_table_lookup_and_fallbacks():
    assert peak_flops("NVIDIA H100 80GB HBM3", "bf16") == pytest.approx(989.4e12)
    assert peak_flops("NVIDIA H100 PCIe", "bf16") == pytest.approx(756.5e12)
    assert peak_flops("NVIDIA H200", "tf32") == pytest.approx(494.7e12)
    assert peak_flops("NVIDIA A100-SXM4-80GB", "fp32") == pytest.approx(19.5e12)
    assert peak_flops("NVIDIA L4", "bf16") == pytest.approx(121e12)
    assert peak_flops("NVIDIA L40S", "bf16") == pytest.approx(362.1e12)
    assert peak_flops("Tesla V100-SXM2-32GB", "bf16") == pytest.approx(15.7e12)  # no bf16 units
    assert peak_flops("NVIDIA GeForce RTX 4090", "bf16") == pytest.approx(165.2e12)
    assert peak_flops("some cpu", "bf16") is None


def test_tflops_and_mfu_uses_the_configured_peak():
    model, _, _ = create_model("medclip-tiny")
    cfg = TrainConfig()
    cfg.model.name = "medclip-tiny"
    out = tflops_and_mfu(1000.0, model, cfg)
    assert "mfu" not in out  # CPU, no peak configured
    f = flops_per_sample(model)["train"]
    assert out["tflops_per_device"] == pytest.approx(1000.0 * f / 1e12)
    cfg.peak_flops = 1e12
    out = tflops_and_mfu(1000.0, model, cfg)
    assert out["mfu"] == pytest.approx(1000.0 * f / 1e12) and out["peak_tflops"] == 1.0


def test_metrics_jsonl_carries_the_throughput_and_mfu_fields(tmp_path):
    import json

    from shard_fixtures import write_shards

    from medclip.train import main

    shards = write_shards(tmp_path / "s", n=16, shards=2)
    args = ["model.name=medclip-tiny", f"data.train={shards}", "data.workers=0", "data.batch_size=4",
            "data.split_by=sample", "total_steps=2", "log_every_n_steps=1", f"run_dir={tmp_path / 'run'}",
            "progress=true", "tensorboard=false", "peak_flops=2e12"]  # fmt: skip
    assert main(args) == 0
    rows = [r for r in map(json.loads, open(tmp_path / "run/metrics.jsonl")) if "loss" in r]
    assert len(rows) == 2
    model, _, _ = create_model("medclip-tiny")
    f = flops_per_sample(model)["train"]
    for r in rows:
        assert r["train_flops_per_sample"] == f
        assert r["tflops_per_device"] == pytest.approx(r["samples_per_s_per_device"] * f / 1e12)
        assert r["mfu"] == pytest.approx(r["tflops_per_device"] / 2.0) and r["peak_tflops"] == 2.0
        assert 0.0 <= r["data_wait_frac"] <= 1.0
