"""The training loop: steps, logging, evaluation, checkpoints, signals, resume, non-finite guards."""

from __future__ import annotations

import json
import math
import os
import signal
import time
from pathlib import Path

import torch

from ..config import save_config, to_dict
from ..data.transforms import normalize
from .checkpoint import CheckpointWriter, find_latest, load_checkpoint
from .config import TrainConfig
from .distributed import all_reduce, barrier, cleanup, init_distributed
from .evaluators import create_evaluator
from .metrics import MetricsLogger
from .module import ContrastiveModule
from .optim import build_optimizer, lr_at, set_lr
from .setup import TrainError, build_loader, build_model, image_geometry, make_plan, source_urls, wrap_ddp
from .step import forward_backward


def _say(env, msg: str) -> None:
    if env.is_main:
        print(f"medclip-train: {msg}", flush=True)


def _resume_path(resume: str | None, ckpt_dir: Path) -> Path | None:
    if not resume or resume == "none":
        return None
    if resume == "auto":
        return find_latest(ckpt_dir)
    if not Path(resume).is_file():
        raise TrainError(f"--resume checkpoint not found: {resume}")
    return Path(resume)


def train(cfg: TrainConfig, *, resume: str | None = None) -> dict:
    """Run (or continue) training as configured; returns a summary dict (same on every rank)."""
    env = init_distributed(cfg.device)
    try:
        return _train(cfg, env, resume)
    finally:
        cleanup(env)


def _train(cfg: TrainConfig, env, resume: str | None) -> dict:
    torch.manual_seed(cfg.seed)
    run_dir, ckpt_dir = Path(cfg.run_dir), Path(cfg.run_dir) / "checkpoints"
    urls, weights, sizes = source_urls(cfg, env)
    plan = make_plan(cfg, env, urls, sizes)
    model, tokenizer, cache = build_model(cfg, env)
    size, mean, std = image_geometry(model, cfg)
    from ..losses import create_loss

    try:
        loss_fn = create_loss(
            cfg.loss.name,
            rank=env.rank,
            world_size=env.world_size,
            local_loss=cfg.loss.local_loss,
            gather_with_grad=cfg.loss.gather_with_grad,
        )
        evaluator = create_evaluator(cfg.eval.name, cfg.eval.args) if cfg.eval.name else None
    except ValueError as e:
        raise TrainError(str(e)) from None
    optimizer = build_optimizer(model, cfg.optim, env.device.type)
    st = {"step": 0, "epoch": 0, "batch_in_epoch": 0, "positions": None, "samples_seen": 0}
    ckpt_path = _resume_path(resume, ckpt_dir)
    if ckpt_path is not None:
        ckpt = load_checkpoint(ckpt_path)
        model.load_state_dict(ckpt["state_dict"])
        if ckpt.get("optimizer"):
            optimizer.load_state_dict(ckpt["optimizer"])
        for k in st:
            st[k] = ckpt.get(k if k != "positions" else "data_positions", st[k])
        _say(
            env,
            f"resumed from {ckpt_path} at step {st['step']} (epoch {st['epoch']}, micro-batch {st['batch_in_epoch']})",
        )
    if env.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
    module = ContrastiveModule(model, project_cached=cfg.model.lock_text and not cfg.model.lock_text_proj)
    tmod = wrap_ddp(module, env)
    if cfg.model.compile:
        tmod = torch.compile(tmod)
    loader = build_loader(cfg, env, plan, urls, weights, size, tokenizer)
    writer = (
        CheckpointWriter(
            ckpt_dir,
            async_save=cfg.checkpoint.async_save,
            separate_optimizer=cfg.checkpoint.separate_optimizer,
            keep_last=cfg.checkpoint.keep_last,
        )
        if env.is_main
        else None
    )
    metrics = MetricsLogger(run_dir, enabled=env.is_main, tensorboard=cfg.tensorboard)
    if writer is not None and writer.removed_temporaries:
        gone = writer.removed_temporaries
        _say(
            env,
            f"removed {len(gone)} partial checkpoint file(s) of an interrupted save: "
            + ", ".join(p.name for p in gone),
        )
    _say(
        env,
        f"{plan.samples_per_epoch} samples/epoch, global batch {plan.global_batch}, "
        f"{plan.steps_per_epoch} steps/epoch, {plan.total_steps} steps, {env.world_size} process(es) on "
        f"{env.device}, run folder {run_dir}",
    )
    use_bf16 = cfg.precision == "bf16"

    def autocast():
        return torch.autocast(env.device.type, dtype=torch.bfloat16, enabled=use_bf16)

    no_sync = getattr(tmod, "no_sync", None) if env.distributed else None
    got_signal: dict = {"sig": None}

    def on_signal(signum, _frame):
        got_signal["sig"] = signum

    old_handlers = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return _loop(**locals())
    finally:
        for s, h in old_handlers.items():
            signal.signal(s, h)


def _loop(
    *,
    cfg,
    env,
    run_dir,
    ckpt_dir,
    plan,
    model,
    tokenizer,
    cache,
    size,
    mean,
    std,
    loss_fn,
    evaluator,
    optimizer,
    st,
    ckpt_path,
    tmod,
    loader,
    writer,
    metrics,
    autocast,
    no_sync,
    got_signal,
    **_,
):
    kill_at = os.environ.get("MEDCLIP_FAULT_KILL_AT_STEP")  # fault injection for restart tests
    first_attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"
    step, samples_seen = int(st["step"]), int(st["samples_seen"])
    saved_at = step if ckpt_path is not None else -1

    def payload(epoch: int, batch_in_epoch: int, positions: list[int]) -> dict:
        return {
            "epoch": epoch,
            "step": step,
            "name": cfg.model.name,
            "state_dict": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scaler": None,
            "config": to_dict(cfg),
            "batch_in_epoch": batch_in_epoch,
            "data_positions": list(positions),
            "samples_seen": samples_seen,
            "world_size": env.world_size,
            "workers": cfg.data.workers,
        }

    def save(name: str, epoch: int, bie: int, positions: list[int]) -> None:
        nonlocal saved_at
        if writer is not None:
            writer.save(payload(epoch, bie, positions), name)
        saved_at = step

    def evaluate(epoch: int) -> None:
        model.eval()
        res = evaluator(
            model,
            tokenizer,
            device=env.device,
            rank=env.rank,
            world_size=env.world_size,
            step=step,
            epoch=epoch,
        )
        model.train()
        if env.is_main:
            metrics.log(step, {f"eval/{k}": v for k, v in res.items()})
            (run_dir / "eval").mkdir(exist_ok=True)
            with open(run_dir / "eval" / f"step_{step:08d}.json", "w") as f:
                json.dump({"step": step, "epoch": epoch, **res}, f, indent=1)
            _say(env, f"eval at step {step}: " + ", ".join(f"{k}={v:.4f}" for k, v in list(res.items())[:8]))

    from tqdm import tqdm

    bar = tqdm(
        total=plan.total_steps,
        initial=step,
        disable=not (env.is_main and cfg.progress),
        unit="step",
        dynamic_ncols=True,
    )
    bad, skipped, last_loss, stop_reason = 0, 0, float("nan"), "finished"
    n_roles, A, bpe = max(1, cfg.data.workers), cfg.accum_freq, plan.steps_per_epoch * cfg.accum_freq
    t0, tw, sw = time.time(), time.time(), samples_seen
    logged_at = step

    def log_step(loss: torch.Tensor, skipped: int, epoch: int) -> None:
        # collective (all_reduce): every rank calls it at the same steps
        nonlocal last_loss, tw, sw, logged_at
        vals = all_reduce([float(loss), float(skipped)], env)
        last_loss = vals[0] / env.world_size
        now = time.time()
        rate = (samples_seen - sw) / max(now - tw, 1e-9)
        tw, sw, logged_at = now, samples_seen, step
        metrics.log(
            step,
            {
                "loss": last_loss,
                "lr": optimizer.param_groups[0]["lr"],
                "epoch": epoch,
                "logit_scale": float(model.logit_scale.detach().exp()),
                "samples_per_s": rate,
                "samples_seen": samples_seen,
                "skipped_samples": vals[1],
            },
        )
        bar.set_postfix(loss=f"{last_loss:.4f}", refresh=False)

    epoch, bie = int(st["epoch"]), int(st["batch_in_epoch"])
    positions = [0] * n_roles
    while step < plan.total_steps and stop_reason == "finished":
        bie = int(st["batch_in_epoch"]) if epoch == st["epoch"] else 0
        ck_pos = st["positions"] if epoch == st["epoch"] else None
        positions = list(ck_pos) if (bie and ck_pos and len(ck_pos) == n_roles) else [0] * n_roles
        it = loader.batches(epoch, bie, ck_pos)
        while bie < bpe and step < plan.total_steps:
            micro = [next(it) for _ in range(A)]
            inputs = []
            for j, b in enumerate(micro):
                if b["index"] != bie + j:
                    raise RuntimeError(f"loader order broken: got micro-batch {b['index']}, expected {bie + j}")
                positions[b["role"]] = b["pos"]
                skipped += b["skipped"]
                imgs = normalize(b["images"].to(env.device, non_blocking=True), mean, std)
                inputs.append(
                    {
                        "images": imgs,
                        "label_ids": b["label_ids"].to(env.device),
                        "tokens": None if cache else b["tokens"].to(env.device, non_blocking=True),
                        "text_cached": cache.features(b["texts"]) if cache else None,
                    }
                )
            set_lr(optimizer, lr_at(step, cfg.optim, plan.total_steps))
            optimizer.zero_grad(set_to_none=True)
            loss, _ = forward_backward(tmod, loss_fn, inputs, autocast=autocast, no_sync=no_sync)
            gnorm = None
            if cfg.optim.grad_clip > 0:
                gnorm = torch.nn.utils.clip_grad_norm_(
                    [p for p in model.parameters() if p.requires_grad], cfg.optim.grad_clip
                )
            finite = bool(torch.isfinite(loss)) and (gnorm is None or bool(torch.isfinite(gnorm)))
            flags = all_reduce([0.0 if finite else 1.0, 1.0 if got_signal["sig"] else 0.0], env, op="max")
            if flags[0] == 0.0:
                optimizer.step()
                with torch.no_grad():
                    model.logit_scale.clamp_(0, math.log(cfg.model.logit_scale_max))
                bad = 0
            else:
                optimizer.zero_grad(set_to_none=True)
                bad += 1
                _say(env, f"non-finite loss at step {step}: step skipped ({bad} in a row)")
                if bad >= cfg.max_bad_steps:
                    raise TrainError(
                        f"stopping: {bad} consecutive steps with a non-finite loss (last at step "
                        f"{step}); lower optim.lr, use precision=fp32 or check the data"
                    )
            step += 1
            bie += A
            samples_seen += plan.global_batch
            bar.update(1)
            if step % cfg.log_every_n_steps == 0 or step == plan.total_steps:
                log_step(loss, skipped, epoch)
            done_epoch = bie >= bpe
            ck_epoch, ck_bie = (epoch + 1, 0) if done_epoch else (epoch, bie)
            if flags[1]:
                save(f"step_{step:08d}", ck_epoch, ck_bie, positions)
                stop_reason = f"signal {got_signal['sig'] or 'on another rank'}"
                break
            if cfg.checkpoint.every_n_steps and step % cfg.checkpoint.every_n_steps == 0:
                save(f"step_{step:08d}", ck_epoch, ck_bie, positions)
            if evaluator and cfg.eval.every_n_steps and step % cfg.eval.every_n_steps == 0:
                evaluate(epoch)
            if kill_at and first_attempt and step == int(kill_at):
                if writer is not None:
                    writer.wait()
                os.kill(os.getpid(), signal.SIGKILL)
            if cfg.stop_after_steps and step >= cfg.stop_after_steps and step < plan.total_steps:
                save(f"step_{step:08d}", ck_epoch, ck_bie, positions)
                stop_reason = f"stop_after_steps={cfg.stop_after_steps}"
                break
        if stop_reason != "finished":
            break
        if bie >= bpe:
            epoch, bie = epoch + 1, 0
            positions = [0] * n_roles
            if cfg.checkpoint.every_epoch:
                save(f"epoch_{epoch:04d}", epoch, 0, positions)
            if evaluator and cfg.eval.every_n_epochs and epoch % cfg.eval.every_n_epochs == 0:
                evaluate(epoch - 1)
    if logged_at != step:  # stopped (stop_after_steps, signal) between two logging steps: log the last one
        log_step(loss, skipped, epoch)
    bar.close()
    if saved_at != step:
        save(f"step_{step:08d}", epoch, bie, positions)
    if writer is not None:
        writer.wait()
    total_skipped = all_reduce([float(skipped)], env)[0]
    barrier(env)
    metrics.close()
    elapsed = time.time() - t0
    _say(
        env,
        f"{stop_reason} at step {step}/{plan.total_steps} in {elapsed:.0f}s, loss {last_loss:.4f}, "
        f"{int(total_skipped)} corrupt samples skipped; checkpoint {ckpt_dir / 'latest.pt'}",
    )
    return {
        "step": step,
        "total_steps": plan.total_steps,
        "loss": last_loss,
        "stopped": stop_reason,
        "skipped_samples": int(total_skipped),
        "seconds": elapsed,
        "checkpoint": str(ckpt_dir / "latest.pt"),
        "text_cache_misses": cache.misses if cache else 0,
    }
