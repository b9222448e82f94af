"""Setting up a training run: config, model, data, optimizer, resume, signals; the loop is :mod:`.loop`."""

from __future__ import annotations

import signal
from pathlib import Path

import torch

from ..config import save_config
from ..data.damage import DataHealth
from ..models.train_options import compile_towers
from .callbacks import from_env as callbacks_from_env
from .checkpoint import CheckpointWriter, find_latest, restore
from .config import TrainConfig
from .distributed import cleanup, init_distributed
from .evaluators import create_evaluator
from .loop import Loop, Run
from .metrics import MetricsLogger
from .module import ContrastiveModule
from .optim import build_optimizer
from .setup import TrainError, build_loader, build_model, image_geometry, make_plan, source_urls, wrap_ddp
from .state import LoopState


def _say(env, msg: str) -> None:
    if env.is_main:
        print(f"medclip-train: {msg}", flush=True)


def _resume_path(resume: str | None, ckpt_dir: Path) -> Path | None:
    if not resume or resume == "none":
        return None
    if resume == "auto":
        return find_latest(ckpt_dir)
    if not Path(resume).exists():  # a .pt file or a sharded .dcp folder
        raise TrainError(f"--resume checkpoint not found: {resume}")
    return Path(resume)


def train(cfg: TrainConfig, *, resume: str | None = None, callbacks: list | None = None) -> dict:
    """Run (or continue) training as configured; returns a summary dict (same on every rank).

    Args:
        cfg: the resolved config.
        resume: ``auto``, a checkpoint path, ``none`` or None.
        callbacks: loop observers (:mod:`medclip.train.callbacks`); those the environment asks for
            (``MEDCLIP_FAULT_KILL_AT_STEP``) are added at start-up.
    """
    env = init_distributed(cfg.device)
    try:
        return _train(cfg, env, resume, [*(callbacks or []), *callbacks_from_env()])
    finally:
        cleanup(env)


def _train(cfg: TrainConfig, env, resume: str | None, callbacks: list) -> dict:
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
    module = ContrastiveModule(model, project_cached=cfg.model.lock_text and not cfg.model.lock_text_proj)
    fsdp = cfg.dist.strategy == "fsdp"
    if fsdp:  # FSDP2 shards the parameters in place: before the optimizer sees them (medclip/train/fsdp.py)
        from .fsdp import shard_for_training

        shard_for_training(module, env, cfg)
    optimizer = build_optimizer(model, cfg.optim, env.device.type)
    state = LoopState()
    ckpt_path = _resume_path(resume, ckpt_dir)
    if ckpt_path is not None:
        _restore(state, ckpt_path, model, optimizer, env)
    if env.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
    tmod = module if fsdp else wrap_ddp(module, env)
    if cfg.model.compile:  # the towers, in place: the loss stays eager, state-dict keys stay plain
        try:
            compile_towers(model)
        except RuntimeError as e:
            raise TrainError(str(e).splitlines()[0]) from None
    loader = build_loader(cfg, env, plan, urls, weights, size, tokenizer)
    writer = (
        CheckpointWriter(
            ckpt_dir,
            async_save=cfg.checkpoint.async_save,
            separate_optimizer=cfg.checkpoint.separate_optimizer,
            keep_last=cfg.checkpoint.keep_last,
            sharded=(model, optimizer) if fsdp else None,  # FSDP2: every rank writes its shards
            is_main=env.is_main,
        )
        if env.is_main or fsdp
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

    got_signal: dict = {"sig": None}

    def on_signal(signum, _frame):
        got_signal["sig"] = signum

    run = Run(
        cfg=cfg,
        env=env,
        plan=plan,
        run_dir=run_dir,
        ckpt_dir=ckpt_dir,
        model=model,
        tokenizer=tokenizer,
        cache=cache,
        mean=mean,
        std=std,
        loss_fn=loss_fn,
        evaluator=evaluator,
        optimizer=optimizer,
        tmod=tmod,
        loader=loader,
        writer=writer,
        metrics=metrics,
        autocast=autocast,
        no_sync=getattr(tmod, "no_sync", None) if env.distributed else None,
        got_signal=got_signal,
        callbacks=callbacks,
    )
    old_handlers = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return Loop(run, state).run_all()
    finally:
        for s, h in old_handlers.items():
            signal.signal(s, h)


def _restore(state: LoopState, ckpt_path: Path, model, optimizer, env) -> None:
    """Load weights, optimizer and the resume position (and, on rank 0, the data accounting) into ``state``."""
    ckpt = restore(ckpt_path, model, optimizer)  # .pt or sharded .dcp, into a plain or FSDP2 model
    state.step = state.saved_at = int(ckpt.get("step", 0))
    state.samples_seen = int(ckpt.get("samples_seen", 0))
    state.epoch = state.resume_epoch = int(ckpt.get("epoch", 0))
    state.batch_in_epoch = state.resume_batch_in_epoch = int(ckpt.get("batch_in_epoch", 0))
    state.resume_positions = ckpt.get("data_positions")
    if env.is_main:  # the checkpoint holds every rank's totals: one rank carries them on
        state.health = DataHealth.from_state_dict(ckpt.get("data_health"))
    _say(
        env,
        f"resumed from {ckpt_path} at step {state.step} (epoch {state.epoch}, micro-batch {state.batch_in_epoch})",
    )
