"""Checkpoints: atomic writes (temp + rename), ``latest.pt`` link, optional async and split optimizer file.

A checkpoint is a ``torch.save`` dict with ``epoch, step, name, state_dict (open_clip keys), optimizer,
scaler, config`` plus the data position (``batch_in_epoch``, ``data_positions``, ``samples_seen``) for an
exact mid-epoch resume. Everything is plain tensors/containers, so loading uses ``weights_only=True``.
With ``separate_optimizer`` the optimizer state goes to ``<name>.optim.pt`` and the main file names it in
``optimizer_file`` (the weights file stays small for evaluation and export).

Sharded checkpoints (``dist.strategy: fsdp``) are folders ``<name>.dcp/``: every rank writes its shards of the
weights and of the optimizer state with ``torch.distributed.checkpoint`` (keys: open_clip's parameter names),
rank 0 adds ``meta.pt`` (everything but the tensors: step, epoch, data position, config, ``sharded: true``).
The folder is written as ``.<name>.dcp.tmp`` and renamed when complete; ``latest.pt`` links to it like to a
file. :func:`load_checkpoint` reads either kind into one full state dict (for export and single-process use);
:func:`restore` loads either kind into a plain, DDP or FSDP2 model and its optimizer (resume from either).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from pathlib import Path

import torch


def _cpu_copy(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu_copy(v) for v in obj)
    return obj


def atomic_save(obj, path: Path) -> None:
    """``torch.save`` to a temp file in the same folder, fsync, then rename over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


_TEMP = re.compile(r"^.+\.pt\.tmp\d+$|^\.latest\.tmp\d+$|^\..+\.dcp\.tmp$")


def remove_stale_temporaries(ckpt_dir: str | Path) -> list[Path]:
    """Delete the temporaries an interrupted save left behind (``[.]<name>.pt.tmp<pid>``, ``.latest.tmp<pid>``).

    A temporary never holds the only copy of a checkpoint: the rename over the final name happens only
    after the write finished, so a leftover is a partial write that nothing refers to.

    Args:
        ckpt_dir: The checkpoints folder (may not exist yet).

    Returns:
        The removed paths, sorted.
    """
    d = Path(ckpt_dir)
    if not d.is_dir():
        return []
    stale = sorted(p for p in d.iterdir() if _TEMP.match(p.name) and (p.is_symlink() or p.exists()))
    for p in stale:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    return stale


def _link_latest(path: Path) -> None:
    latest = path.with_name("latest.pt")
    tmp = path.with_name(f".latest.tmp{os.getpid()}")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(path.name, tmp)
    os.replace(tmp, latest)


class CheckpointWriter:
    """Writes checkpoints into ``ckpt_dir``; at most one async write in flight.

    On creation it removes the temporaries a killed earlier save left in ``ckpt_dir``. With ``sharded``
    (``(model, optimizer)`` of an FSDP2 run; create the writer on **every** rank) :meth:`save` writes the
    sharded ``<name>.dcp/`` folder collectively instead of a ``.pt`` file.
    """

    def __init__(
        self,
        ckpt_dir: str | Path,
        *,
        async_save: bool = False,
        separate_optimizer: bool = False,
        keep_last: int = 2,
        sharded: tuple | None = None,
        is_main: bool = True,
    ):
        self.dir = Path(ckpt_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.removed_temporaries = remove_stale_temporaries(self.dir) if is_main else []
        self.async_save, self.separate_optimizer, self.keep_last = async_save, separate_optimizer, keep_last
        self.sharded, self.is_main = sharded, is_main
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def save(self, payload: dict, name: str) -> Path:
        """Write ``payload`` as ``<name>.pt`` (and ``<name>.optim.pt``) and point ``latest.pt`` at it."""
        if self.sharded is not None:
            return self.save_sharded(payload, name, *self.sharded, is_main=self.is_main)
        self.wait()
        path = self.dir / f"{name}.pt"
        payload = dict(payload)
        optim = None
        if self.separate_optimizer:
            optim = {"optimizer": payload.pop("optimizer"), "scaler": payload.pop("scaler", None)}
            payload.update(optimizer=None, scaler=None, optimizer_file=f"{name}.optim.pt")
        if self.async_save:
            payload, optim = _cpu_copy(payload), _cpu_copy(optim)
            self._thread = threading.Thread(target=self._write, args=(payload, optim, path), daemon=False)
            self._thread.start()
        else:
            self._write(payload, optim, path)
        return path

    def _write(self, payload: dict, optim: dict | None, path: Path) -> None:
        try:
            if optim is not None:
                atomic_save(optim, path.with_name(payload["optimizer_file"]))
            atomic_save(payload, path)
            _link_latest(path)
            self._prune(keep=path.name)
        except BaseException as e:  # surfaced by wait()
            self._error = e

    def _prune(self, keep: str) -> None:
        if self.keep_last <= 0:
            return
        files = [p for p in self.dir.glob("*.pt") if not p.is_symlink() and not p.name.endswith(".optim.pt")]
        files += [p for p in self.dir.glob("*.dcp") if p.is_dir() and not p.is_symlink()]
        ckpts = sorted(files, key=lambda p: p.stat().st_mtime)
        for p in ckpts[: max(0, len(ckpts) - self.keep_last)]:
            if p.name != keep:
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                    continue
                p.unlink(missing_ok=True)
                p.with_name(p.stem + ".optim.pt").unlink(missing_ok=True)

    def save_sharded(self, payload: dict, name: str, model, optimizer, *, is_main: bool) -> Path:
        """Collective (every rank): write ``<name>.dcp/`` with ``torch.distributed.checkpoint``.

        ``payload``'s ``state_dict`` / ``optimizer`` are replaced by the sharded state of ``model`` /
        ``optimizer``; the rest goes to ``meta.pt`` (rank 0). Synchronous (``async_save`` applies to ``.pt``).
        """
        import torch.distributed as dist
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import get_state_dict

        self.wait()
        final, tmp = self.dir / f"{name}.dcp", self.dir / f".{name}.dcp.tmp"
        if is_main and tmp.exists():
            shutil.rmtree(tmp)
        dist.barrier()
        msd, osd = get_state_dict(model, optimizer)
        dcp.save({"model": msd, "optim": osd}, checkpoint_id=str(tmp))
        dist.barrier()
        if is_main:
            meta = {k: v for k, v in payload.items() if k not in ("state_dict", "optimizer", "scaler")}
            meta.update(sharded=True, optimizer_format="fqn")
            atomic_save(meta, tmp / "meta.pt")
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
            _link_latest(final)
            self._prune(keep=final.name)
        dist.barrier()
        return final

    def wait(self) -> None:
        """Block until the pending async write has finished (re-raising its error)."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            err, self._error = self._error, None
            raise RuntimeError(f"checkpoint write failed: {err}") from err


def is_sharded_checkpoint(path: str | Path) -> bool:
    """A ``<name>.dcp/`` folder (or ``latest.pt`` linking to one) written by :meth:`CheckpointWriter.save_sharded`."""
    p = Path(path).resolve()
    return p.is_dir() and (p / "meta.pt").is_file()


def load_sharded_full(path: str | Path) -> dict:
    """The full (unsharded) ``{"model": ..., "optim": ...}`` of a sharded checkpoint, without a process group."""
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "full.pt"
        dcp_to_torch_save(str(Path(path).resolve()), str(out))
        return torch.load(out, map_location="cpu", weights_only=True)


def load_checkpoint(path: str | Path) -> dict:
    """Load a trainer checkpoint (``weights_only=True``), merging a separate optimizer file if named.

    A sharded checkpoint (``.dcp`` folder) is read whole: ``state_dict`` holds full tensors under open_clip's
    keys and ``optimizer`` the name-keyed optimizer state (``optimizer_format: fqn``).
    """
    path = Path(path)
    if is_sharded_checkpoint(path):
        meta = torch.load(path.resolve() / "meta.pt", map_location="cpu", weights_only=True)
        full = load_sharded_full(path)
        return {**meta, "state_dict": full["model"], "optimizer": full["optim"]}
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise ValueError(f"{path} is not a medclip trainer checkpoint (no 'state_dict')")
    if ckpt.get("optimizer_file"):
        optim_path = path.resolve().parent / ckpt["optimizer_file"]
        if optim_path.is_file():
            ckpt.update(torch.load(optim_path, map_location="cpu", weights_only=True))
    return ckpt


def _fqn_optimizer_state(osd: dict, model, optimizer) -> dict:
    """A ``torch.optim`` state dict (parameters as indices) re-keyed by parameter name for ``set_state_dict``."""
    names = {id(p): n for n, p in model.named_parameters()}
    order = [names[id(p)] for g in optimizer.param_groups for p in g["params"]]
    state = {order[int(i)]: v for i, v in osd["state"].items()}
    groups = [{**g, "params": [order[int(i)] for i in g["params"]]} for g in osd["param_groups"]]
    return {"state": state, "param_groups": groups}


def restore(path: str | Path, model, optimizer) -> dict:
    """Load checkpoint ``path`` (``.pt`` or sharded ``.dcp``) into ``model`` and ``optimizer``; returns its metadata.

    ``model`` may be plain (one process, DDP's inner model) or FSDP2-sharded; any combination with either
    checkpoint kind works. A sharded checkpoint into a sharded model is read shard by shard (collective).

    Args:
        path: checkpoint file or folder.
        model: the open_clip model (parameters may be DTensors).
        optimizer: its optimizer (built over the parameters as they are now).

    Returns:
        The checkpoint dict without ``state_dict`` / ``optimizer``.
    """
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict, set_state_dict

    from .fsdp import is_sharded

    sharded_model = is_sharded(model)
    if is_sharded_checkpoint(path) and sharded_model:
        import torch.distributed.checkpoint as dcp

        meta = torch.load(Path(path).resolve() / "meta.pt", map_location="cpu", weights_only=True)
        msd, osd = get_state_dict(model, optimizer)
        state = {"model": msd, "optim": osd}
        dcp.load(state, checkpoint_id=str(Path(path).resolve()))
        set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])
        return meta
    ckpt = load_checkpoint(path)
    osd = ckpt.pop("optimizer", None)
    sd = ckpt.pop("state_dict")
    if not sharded_model and ckpt.get("optimizer_format") != "fqn":  # plain into plain: as always
        model.load_state_dict(sd)
        if osd:
            optimizer.load_state_dict(osd)
        return ckpt
    if osd and ckpt.get("optimizer_format") != "fqn":
        osd = _fqn_optimizer_state(osd, model, optimizer)
    opts = StateDictOptions(full_state_dict=True)
    if osd:
        set_state_dict(model, optimizer, model_state_dict=sd, optim_state_dict=osd, options=opts)
    else:
        set_state_dict(model, [], model_state_dict=sd, optim_state_dict={}, options=opts)
    return ckpt


def find_latest(ckpt_dir: str | Path) -> Path | None:
    """``latest.pt`` in ``ckpt_dir`` if it exists (and resolves), else None."""
    p = Path(ckpt_dir) / "latest.pt"
    return p if p.exists() else None
