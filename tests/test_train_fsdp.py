"""FSDP2 on 2 gloo processes: losses equal DDP's, sharded checkpoints resume bit-identically, resume across
strategies, and the sharded checkpoint exports to a folder plain open_clip loads."""

import contextlib
import json

import open_clip
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from medclip.train.checkpoint import CheckpointWriter, is_sharded_checkpoint, load_checkpoint

W, B, STEPS = 2, 4, 4


def _batch(step: int, rank: int, vocab: int = 49408, ctx: int = 32) -> dict:
    g = torch.Generator().manual_seed(1000 * step + rank)
    tokens = torch.randint(1, vocab - 1, (B, ctx), generator=g)
    tokens[:, 0], tokens[:, -1] = 49406, 49407  # sot ... eot (argmax pooling)
    return {
        "images": torch.randn(B, 3, 64, 64, generator=g),
        "tokens": tokens,
        "text_cached": None,
        "label_ids": torch.arange(B),
    }


def _run(strategy: str, rank: int, out, *, resume=None, save_at=(), start=0, param_dtype=None) -> dict:
    """Train STEPS steps (from ``start``) of medclip-tiny with siglip_chunked-free CLIP loss; return losses + state."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    from medclip.losses import create_loss
    from medclip.models import create_model
    from medclip.train.checkpoint import restore
    from medclip.train.config import OptimConfig
    from medclip.train.fsdp import shard_module
    from medclip.train.module import ContrastiveModule
    from medclip.train.optim import build_optimizer, lr_at, set_lr
    from medclip.train.step import forward_backward

    torch.manual_seed(0)
    model, _, _ = create_model("medclip-tiny")
    model.train()
    module = ContrastiveModule(model)
    if strategy == "fsdp":
        shard_module(module, device=torch.device("cpu"), param_dtype=param_dtype)
        tmod = module
    optim_cfg = OptimConfig(lr=1e-3, warmup_steps=1, fused=False)
    optimizer = build_optimizer(model, optim_cfg)
    if strategy == "ddp":
        tmod = DDP(module, broadcast_buffers=False)
    if resume is not None:
        restore(resume, model, optimizer)
    loss_fn = create_loss("clip", rank=rank, world_size=W)
    writer = CheckpointWriter(out, keep_last=0)
    losses = []
    for step in range(start, STEPS):
        set_lr(optimizer, lr_at(step, optim_cfg, STEPS))
        optimizer.zero_grad(set_to_none=True)
        loss, _ = forward_backward(tmod, loss_fn, [_batch(step, rank)], autocast=contextlib.nullcontext)
        optimizer.step()
        t = loss.detach().clone()
        dist.all_reduce(t)
        losses.append(float(t) / W)
        if step + 1 in save_at:
            payload = {"name": "medclip-tiny", "step": step + 1, "epoch": 0}
            if strategy == "fsdp":
                writer.save_sharded(payload, f"step_{step + 1}", model, optimizer, is_main=rank == 0)
            elif rank == 0:
                payload.update(state_dict=model.state_dict(), optimizer=optimizer.state_dict())
                writer.save(payload, f"step_{step + 1}")
            dist.barrier()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True))
    return {"losses": losses, "state": {k: v.detach().clone() for k, v in full.items()}}


def _worker(rank, tmp):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{tmp}/init", rank=rank, world_size=W)
    try:
        res = {
            "ddp": _run("ddp", rank, f"{tmp}/ddp", save_at=(2,)),
            "fsdp": _run("fsdp", rank, f"{tmp}/fsdp", save_at=(2, 4)),
            "fsdp_bf16": _run("fsdp", rank, f"{tmp}/bf16", param_dtype="bf16"),
        }
        res["fsdp_resumed"] = _run("fsdp", rank, f"{tmp}/r1", resume=f"{tmp}/fsdp/step_2.dcp", start=2)
        res["ddp_from_sharded"] = _run("ddp", rank, f"{tmp}/r2", resume=f"{tmp}/fsdp/step_2.dcp", start=2)
        res["fsdp_from_plain"] = _run("fsdp", rank, f"{tmp}/r3", resume=f"{tmp}/ddp/step_2.pt", start=2)
        if rank == 0:
            torch.save(res, f"{tmp}/res.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fsdp")
    mp.spawn(_worker, args=(str(tmp),), nprocs=W, join=True)
    return tmp, torch.load(tmp / "res.pt", weights_only=True)


def _close(a: dict, b: dict, **tol) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], **tol, msg=k)


def test_fsdp_losses_and_weights_equal_ddp(runs):
    _, res = runs
    a, b = res["ddp"]["losses"], res["fsdp"]["losses"]
    assert len(a) == len(b) == STEPS and a[0] != a[-1]
    for x, y in zip(a, b):
        assert abs(x - y) < 1e-5 * max(1.0, abs(x)), (a, b)
    _close(res["ddp"]["state"], res["fsdp"]["state"], rtol=1e-4, atol=1e-5)
    # bf16 compute with fp32 master shards: close to fp32, not equal
    for x, y in zip(a, res["fsdp_bf16"]["losses"]):
        assert abs(x - y) < 2e-2 * max(1.0, abs(x))
    assert res["fsdp_bf16"]["losses"] != b


def test_sharded_checkpoint_resumes_bit_identically(runs):
    tmp, res = runs
    assert is_sharded_checkpoint(tmp / "fsdp/step_2.dcp") and is_sharded_checkpoint(tmp / "fsdp/latest.pt")
    assert sorted(p.name for p in (tmp / "fsdp/step_2.dcp").iterdir() if p.suffix == ".distcp") == [
        "__0_0.distcp",
        "__1_0.distcp",
    ]  # one shard file per rank
    assert res["fsdp_resumed"]["losses"] == res["fsdp"]["losses"][2:]
    for k, v in res["fsdp"]["state"].items():
        assert torch.equal(v, res["fsdp_resumed"]["state"][k]), k


def test_resume_across_strategies(runs):
    _, res = runs
    # weights and Adam moments cross over exactly; only the reduction order differs afterwards
    _close(res["ddp_from_sharded"]["state"], res["fsdp"]["state"], rtol=1e-4, atol=1e-5)
    _close(res["fsdp_from_plain"]["state"], res["ddp"]["state"], rtol=1e-4, atol=1e-5)


def test_sharded_checkpoint_reads_whole_and_exports_to_plain_open_clip(runs, tmp_path):
    from medclip.export import export_checkpoint

    tmp, res = runs
    ckpt = load_checkpoint(tmp / "fsdp/latest.pt")
    assert ckpt["step"] == 4 and ckpt["sharded"] and ckpt["name"] == "medclip-tiny"
    for k, v in res["fsdp"]["state"].items():
        assert torch.equal(ckpt["state_dict"][k], v), k
    assert set(ckpt["optimizer"]["state"]) >= {"logit_scale", "visual.conv1.weight"}  # name-keyed Adam state
    out = export_checkpoint(tmp / "fsdp/step_4.dcp", tmp_path / "export")
    cfg = json.loads((out / "open_clip_config.json").read_text())
    assert cfg["medclip"]["step"] == 4
    model, _ = open_clip.create_model_from_pretrained(f"local-dir:{out}")
    sd = model.state_dict()
    for k, v in res["fsdp"]["state"].items():
        assert torch.equal(sd[k], v), k


@pytest.mark.slow  # three torchrun launches (~1 min each on 2 loaded cores); the library tests above are fast
def test_trainer_fsdp_strategy_matches_ddp_and_resumes_from_its_sharded_checkpoint(tmp_path):
    from shard_fixtures import write_shards
    from test_train_ddp import COMMON, losses, torchrun

    shards = write_shards(tmp_path / "s", n=32, shards=2)
    args = ["total_steps=3", f"data.train={shards}", "data.batch_size=4", *COMMON]
    torchrun(2, [f"run_dir={tmp_path / 'ddp'}", *args])
    fs = [f"run_dir={tmp_path / 'fsdp'}", "dist.strategy=fsdp", *args]
    torchrun(2, [*fs, "stop_after_steps=2"])
    assert is_sharded_checkpoint(tmp_path / "fsdp/checkpoints/latest.pt")
    p = torchrun(2, ["--resume", "auto", *fs])
    assert "resumed from" in p.stdout and "at step 2" in p.stdout
    a, b = losses(tmp_path / "ddp"), losses(tmp_path / "fsdp")
    assert len(a) == len(b) == 3
    for x, y in zip(a, b):
        assert abs(x - y) < 1e-5 * max(1.0, abs(x)), (a, b)
    wa = load_checkpoint(tmp_path / "ddp/checkpoints/latest.pt")["state_dict"]
    wb = load_checkpoint(tmp_path / "fsdp/checkpoints/latest.pt")["state_dict"]
    _close(wa, wb, rtol=1e-3, atol=1e-4)
