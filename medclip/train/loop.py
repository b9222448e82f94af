"""The training loop as named steps: fetch, step, log, evaluate, checkpoint (and epoch start / end, finish).

:class:`Run` holds the fixed parts of a run (built by :mod:`medclip.train.trainer`), :class:`LoopState`
(:mod:`medclip.train.state`) what changes. Collective calls (``all_reduce``, the health gather) happen at
the same steps on every rank: log steps, checkpoints and the finish.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..config import to_dict
from ..data.damage import DataHealth
from ..data.gpu_decode import device_images
from .callbacks import call
from .config import TrainConfig
from .distributed import all_reduce, barrier
from .optim import lr_at, set_lr
from .setup import Plan, TrainError
from .state import LoopState
from .step import forward_backward


@dataclass
class Run:
    """Everything a loop needs that does not change while it runs."""

    cfg: TrainConfig
    env: object  # DistEnv
    plan: Plan
    run_dir: Path
    ckpt_dir: Path
    model: torch.nn.Module
    tokenizer: Callable
    cache: object | None  # TextFeatureCache when the text tower is locked
    mean: tuple
    std: tuple
    loss_fn: Callable
    evaluator: Callable | None
    optimizer: torch.optim.Optimizer
    tmod: torch.nn.Module  # the (DDP / compiled) module the step runs
    loader: object  # TrainLoader
    writer: object | None  # CheckpointWriter on rank 0
    metrics: object  # MetricsLogger
    autocast: Callable
    no_sync: Callable | None
    got_signal: dict  # {"sig": signum or None}, set by the signal handler
    callbacks: list = field(default_factory=list)


def gather_health(health: DataHealth, env) -> DataHealth:
    """Every rank's :class:`DataHealth` merged (collective under DDP)."""
    if not env.distributed:
        return health
    import torch.distributed as dist

    parts = [None] * env.world_size
    dist.all_gather_object(parts, health.state_dict())
    out = DataHealth()
    for p in parts:
        out.merge(DataHealth.from_state_dict(p))
    return out


def _throughput_fields(state: LoopState, run: Run, *, interval_s: float, data_wait_s: float) -> dict:
    """Throughput of the last logging interval: the one place where rates are computed.

    Args:
        state: the loop state (``samples_seen`` now, ``interval_samples`` at the last log step).
        run: the run (world size; model and config for FLOPs / MFU).
        interval_s: wall-clock seconds since the last log step.
        data_wait_s: seconds spent waiting for the loader in that interval (mean over ranks).

    Returns:
        ``samples_per_s`` (global), ``samples_per_s_per_device``, ``data_wait_frac`` (loader wait / interval
        time) and, when :mod:`medclip.train.flops` can count the model, its ``tflops_per_device`` / ``mfu``
        fields (``tflops_and_mfu(samples_per_s, model, cfg)``).
    """
    rate = (state.samples_seen - state.interval_samples) / max(interval_s, 1e-9)
    out = {
        "samples_per_s": rate,
        "samples_per_s_per_device": rate / run.env.world_size,
        "data_wait_frac": min(1.0, data_wait_s / max(interval_s, 1e-9)),
    }
    try:
        from .flops import tflops_and_mfu
    except ImportError:
        return out
    try:
        extra = tflops_and_mfu(rate, run.model, run.cfg)
    except Exception:  # FLOPs are informative: a tower without a formula must not stop training
        extra = {}
    return {**out, **{k: v for k, v in extra.items() if k not in out}}


class Loop:
    """Runs ``run`` from ``state`` to the end (or a stop); :meth:`run_all` returns the summary dict."""

    def __init__(self, run: Run, state: LoopState):
        self.run, self.state = run, state
        cfg = run.cfg
        self.n_roles = max(1, cfg.data.workers)
        self.accum = cfg.accum_freq
        self.batches_per_epoch = run.plan.steps_per_epoch * cfg.accum_freq
        self.bar = None

    # -- messages ---------------------------------------------------------------------------------------

    def say(self, msg: str) -> None:
        if not self.run.env.is_main:
            return
        if self.bar is not None and not self.bar.disable:
            self.bar.write(f"medclip-train: {msg}")
        else:
            print(f"medclip-train: {msg}", flush=True)

    # -- the loop -------------------------------------------------------------------------------------

    def run_all(self) -> dict:
        from tqdm import tqdm

        s, plan = self.state, self.run.plan
        self.bar = tqdm(
            total=plan.total_steps,
            initial=s.step,
            disable=not (self.run.env.is_main and self.run.cfg.progress),
            unit="step",
            dynamic_ncols=True,
        )
        s.started = s.interval_start = time.time()
        s.interval_samples, s.logged_at = s.samples_seen, s.step
        s.positions = [0] * self.n_roles
        while s.step < plan.total_steps and not s.stopping:
            it = self.start_epoch()
            while s.batch_in_epoch < self.batches_per_epoch and s.step < plan.total_steps:
                micro = self.fetch(it)
                stop_now = self.step(micro)
                self.after_step(stop_now)
                if s.stopping:
                    break
            if s.stopping:
                break
            if s.batch_in_epoch >= self.batches_per_epoch:
                self.end_epoch()
        return self.finish()

    def start_epoch(self) -> Iterator[dict]:
        """Position the loader at the epoch's first (or, when resuming, the checkpoint's) micro-batch."""
        s = self.state
        same = s.epoch == s.resume_epoch
        s.batch_in_epoch = s.resume_batch_in_epoch if same else 0
        ck_pos = s.resume_positions if same else None
        ok = s.batch_in_epoch and ck_pos and len(ck_pos) == self.n_roles
        s.positions = list(ck_pos) if ok else [0] * self.n_roles
        return self.run.loader.batches(s.epoch, s.batch_in_epoch, ck_pos)

    def fetch(self, it: Iterator[dict]) -> list[dict]:
        """The step's ``accum_freq`` micro-batches, in order; data accounting and loader wait time recorded."""
        s, cfg = self.state, self.run.cfg
        t = time.perf_counter()
        micro = [next(it) for _ in range(self.accum)]
        s.data_wait += time.perf_counter() - t
        for j, b in enumerate(micro):
            if b["index"] != s.batch_in_epoch + j:
                raise RuntimeError(
                    f"loader order broken: got micro-batch {b['index']}, expected {s.batch_in_epoch + j}"
                )
            s.positions[b["role"]] = b["pos"]
            s.skipped += b["skipped"]
            for d in b.get("damage", ()):
                s.health.add_shard(d)
            s.health.add_skips(b.get("skip_reasons", {}), b.get("first_skip", ""))
            if cfg.data.strict:
                self._strict(b)
        call(self.run.callbacks, "on_fetch", self, micro)
        return micro

    def _strict(self, b: dict) -> None:
        if b.get("damage"):
            d = b["damage"][0]
            raise TrainError(f"data.strict: damaged shard {d.describe()} (set data.strict=false to skip and count)")
        if b.get("skipped"):
            raise TrainError(
                f"data.strict: sample {b.get('first_skip')} could not be used (set data.strict=false to skip and count)"
            )

    def _inputs(self, micro: list[dict]) -> list[dict]:
        r, dev = self.run, self.run.env.device
        return [
            {
                "images": device_images(b, dev, r.mean, r.std),  # CPU-decoded uint8, or data.gpu_decode
                "label_ids": b["label_ids"].to(dev),
                "tokens": None if r.cache else b["tokens"].to(dev, non_blocking=True),
                "text_cached": r.cache.features(b["texts"]) if r.cache else None,
            }
            for b in micro
        ]

    def step(self, micro: list[dict]) -> bool:
        """One optimizer step (skipped on a non-finite loss / gradient); returns True when a signal asks to stop."""
        s, r, cfg = self.state, self.run, self.run.cfg
        inputs = self._inputs(micro)
        set_lr(r.optimizer, lr_at(s.step, cfg.optim, r.plan.total_steps))
        r.optimizer.zero_grad(set_to_none=True)
        loss, _ = forward_backward(r.tmod, r.loss_fn, inputs, autocast=r.autocast, no_sync=r.no_sync)
        gnorm = None
        if cfg.optim.grad_clip > 0:
            gnorm = torch.nn.utils.clip_grad_norm_(
                [p for p in r.model.parameters() if p.requires_grad], cfg.optim.grad_clip
            )
        finite = bool(torch.isfinite(loss)) and (gnorm is None or bool(torch.isfinite(gnorm)))
        flags = all_reduce([0.0 if finite else 1.0, 1.0 if r.got_signal["sig"] else 0.0], r.env, op="max")
        if flags[0] == 0.0:
            r.optimizer.step()
            with torch.no_grad():
                r.model.logit_scale.clamp_(0, math.log(cfg.model.logit_scale_max))
            s.bad_steps = 0
        else:
            r.optimizer.zero_grad(set_to_none=True)
            s.bad_steps += 1
            self.say(f"non-finite loss at step {s.step}: step skipped ({s.bad_steps} in a row)")
            if s.bad_steps >= cfg.max_bad_steps:
                raise TrainError(
                    f"stopping: {s.bad_steps} consecutive steps with a non-finite loss (last at step "
                    f"{s.step}); lower optim.lr, use precision=fp32 or check the data"
                )
        s.loss = loss
        s.step += 1
        s.batch_in_epoch += self.accum
        s.samples_seen += r.plan.global_batch
        self.bar.update(1)
        return bool(flags[1])

    def after_step(self, signalled: bool) -> None:
        """Log, checkpoint, evaluate and stop as configured after step ``state.step``."""
        s, r, cfg = self.state, self.run, self.run.cfg
        if s.step % cfg.log_every_n_steps == 0 or s.step == r.plan.total_steps:
            self.log()
        done_epoch = s.batch_in_epoch >= self.batches_per_epoch
        ck = (s.epoch + 1, 0) if done_epoch else (s.epoch, s.batch_in_epoch)
        if signalled:
            self.checkpoint(f"step_{s.step:08d}", *ck)
            s.stop_reason = f"signal {r.got_signal['sig'] or 'on another rank'}"
            return
        if cfg.checkpoint.every_n_steps and s.step % cfg.checkpoint.every_n_steps == 0:
            self.checkpoint(f"step_{s.step:08d}", *ck)
        if r.evaluator and cfg.eval.every_n_steps and s.step % cfg.eval.every_n_steps == 0:
            self.evaluate(s.epoch)
        call(r.callbacks, "on_step_end", self)
        if cfg.stop_after_steps and s.step >= cfg.stop_after_steps and s.step < r.plan.total_steps:
            self.checkpoint(f"step_{s.step:08d}", *ck)
            s.stop_reason = f"stop_after_steps={cfg.stop_after_steps}"

    def end_epoch(self) -> None:
        s, r, cfg = self.state, self.run, self.run.cfg
        s.epoch, s.batch_in_epoch = s.epoch + 1, 0
        s.positions = [0] * self.n_roles
        if cfg.checkpoint.every_epoch:
            self.checkpoint(f"epoch_{s.epoch:04d}", s.epoch, 0)
        if r.evaluator and cfg.eval.every_n_epochs and s.epoch % cfg.eval.every_n_epochs == 0:
            self.evaluate(s.epoch - 1)

    # -- log / evaluate / checkpoint ----------------------------------------------------------------------

    def log(self) -> None:
        """The interval's metrics line (collective: every rank calls it at the same steps)."""
        s, r = self.state, self.run
        vals = all_reduce([float(s.loss), float(s.skipped), s.data_wait], r.env)
        s.last_loss = vals[0] / r.env.world_size
        now = time.time()
        tp = _throughput_fields(s, r, interval_s=now - s.interval_start, data_wait_s=vals[2] / r.env.world_size)
        health = gather_health(s.health, r.env)
        s.interval_start, s.interval_samples, s.logged_at, s.data_wait = now, s.samples_seen, s.step, 0.0
        lr = r.optimizer.param_groups[0]["lr"]
        r.metrics.log(
            s.step,
            {
                "loss": s.last_loss,
                "lr": lr,
                "epoch": s.epoch,
                "logit_scale": float(r.model.logit_scale.detach().exp()),
                **tp,
                "samples_seen": s.samples_seen,
                "skipped_samples": vals[1],
                **health.fields(),
            },
        )
        bar = {"loss": f"{s.last_loss:.4f}", "samples/s": f"{tp['samples_per_s']:.1f}"}
        if "mfu" in tp:
            bar["MFU"] = f"{tp['mfu']:.1%}"
        self.bar.set_postfix(bar, refresh=False)
        mfu = f", MFU {tp['mfu']:.1%}" if "mfu" in tp else ""
        data = "data ok" if not (health.shards or health.skipped) else f"data: {health.line()}"
        self.say(
            f"step {s.step}/{r.plan.total_steps} loss {s.last_loss:.4f} lr {lr:.2e} "
            f"{tp['samples_per_s']:.1f} samples/s ({tp['samples_per_s_per_device']:.1f}/device{mfu}), "
            f"data wait {tp['data_wait_frac']:.0%}; {data}"
        )

    def evaluate(self, epoch: int) -> None:
        s, r = self.state, self.run
        r.model.eval()
        res = r.evaluator(
            r.model,
            r.tokenizer,
            device=r.env.device,
            rank=r.env.rank,
            world_size=r.env.world_size,
            step=s.step,
            epoch=epoch,
        )
        r.model.train()
        health = gather_health(s.health, r.env)
        if r.env.is_main:
            r.metrics.log(s.step, {**{f"eval/{k}": v for k, v in res.items()}, **health.fields()})
            (r.run_dir / "eval").mkdir(exist_ok=True)
            with open(r.run_dir / "eval" / f"step_{s.step:08d}.json", "w") as f:
                json.dump({"step": s.step, "epoch": epoch, **res}, f, indent=1)
            self.say(f"eval at step {s.step}: " + ", ".join(f"{k}={v:.4f}" for k, v in list(res.items())[:8]))

    def payload(self, epoch: int, batch_in_epoch: int, health: DataHealth) -> dict:
        s, r = self.state, self.run
        return {
            "epoch": epoch,
            "step": s.step,
            "name": r.cfg.model.name,
            "state_dict": r.model.state_dict(),
            "optimizer": r.optimizer.state_dict(),
            "scaler": None,
            "config": to_dict(r.cfg),
            "batch_in_epoch": batch_in_epoch,
            "data_positions": list(s.positions),
            "samples_seen": s.samples_seen,
            "world_size": r.env.world_size,
            "workers": r.cfg.data.workers,
            "data_health": health.state_dict(),
        }

    def checkpoint(self, name: str, epoch: int, batch_in_epoch: int) -> None:
        """Save (rank 0) the resume point ``(epoch, batch_in_epoch)`` after the current step (collective)."""
        health = gather_health(self.state.health, self.run.env)
        if self.run.writer is not None:
            self.run.writer.save(self.payload(epoch, batch_in_epoch, health), name)
        self.state.saved_at = self.state.step

    def finish(self) -> dict:
        s, r = self.state, self.run
        if s.logged_at != s.step and s.loss is not None:  # stopped between two logging steps: log the last one
            self.log()
        self.bar.close()
        if s.saved_at != s.step:
            self.checkpoint(f"step_{s.step:08d}", s.epoch, s.batch_in_epoch)
        if r.writer is not None:
            r.writer.wait()
        total_skipped = all_reduce([float(s.skipped)], r.env)[0]
        health = gather_health(s.health, r.env)
        barrier(r.env)
        r.metrics.close()
        elapsed = time.time() - s.started
        self.say(
            f"{s.stop_reason} at step {s.step}/{r.plan.total_steps} in {elapsed:.0f}s, loss {s.last_loss:.4f}, "
            f"{int(total_skipped)} corrupt samples skipped; checkpoint {r.ckpt_dir / 'latest.pt'}"
        )
        self.say(f"data: {health.line(limit=None)}")
        return {
            "step": s.step,
            "total_steps": r.plan.total_steps,
            "loss": s.last_loss,
            "stopped": s.stop_reason,
            "skipped_samples": int(total_skipped),
            "seconds": elapsed,
            "checkpoint": str(r.ckpt_dir / "latest.pt"),
            "text_cache_misses": r.cache.misses if r.cache else 0,
            "data": {**health.fields(), "damaged": [d.describe() for d in health.shards.values()]},
        }
