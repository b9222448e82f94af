"""Checkpoints: atomic writes (temp + rename), ``latest.pt`` link, optional async and split optimizer file.

A checkpoint is a ``torch.save`` dict with ``epoch, step, name, state_dict (open_clip keys), optimizer,
scaler, config`` plus the data position (``batch_in_epoch``, ``data_positions``, ``samples_seen``) for an
exact mid-epoch resume. Everything is plain tensors/containers, so loading uses ``weights_only=True``.
With ``separate_optimizer`` the optimizer state goes to ``<name>.optim.pt`` and the main file names it in
``optimizer_file`` (the weights file stays small for evaluation and export).
"""

from __future__ import annotations

import os
import re
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


_TEMP = re.compile(r"^.+\.pt\.tmp\d+$|^\.latest\.tmp\d+$")


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
    stale = sorted(p for p in d.iterdir() if _TEMP.match(p.name) and (p.is_symlink() or p.is_file()))
    for p in stale:
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

    On creation it removes the temporaries a killed earlier save left in ``ckpt_dir``.
    """

    def __init__(
        self,
        ckpt_dir: str | Path,
        *,
        async_save: bool = False,
        separate_optimizer: bool = False,
        keep_last: int = 2,
    ):
        self.dir = Path(ckpt_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.removed_temporaries = remove_stale_temporaries(self.dir)
        self.async_save, self.separate_optimizer, self.keep_last = async_save, separate_optimizer, keep_last
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def save(self, payload: dict, name: str) -> Path:
        """Write ``payload`` as ``<name>.pt`` (and ``<name>.optim.pt``) and point ``latest.pt`` at it."""
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
        ckpts = sorted(
            (p for p in self.dir.glob("*.pt") if not p.is_symlink() and not p.name.endswith(".optim.pt")),
            key=lambda p: p.stat().st_mtime,
        )
        for p in ckpts[: max(0, len(ckpts) - self.keep_last)]:
            if p.name != keep:
                p.unlink(missing_ok=True)
                p.with_name(p.stem + ".optim.pt").unlink(missing_ok=True)

    def wait(self) -> None:
        """Block until the pending async write has finished (re-raising its error)."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            err, self._error = self._error, None
            raise RuntimeError(f"checkpoint write failed: {err}") from err


def load_checkpoint(path: str | Path) -> dict:
    """Load a trainer checkpoint (``weights_only=True``), merging a separate optimizer file if named."""
    path = Path(path)
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise ValueError(f"{path} is not a medclip trainer checkpoint (no 'state_dict')")
    if ckpt.get("optimizer_file"):
        optim_path = path.resolve().parent / ckpt["optimizer_file"]
        if optim_path.is_file():
            ckpt.update(torch.load(optim_path, map_location="cpu", weights_only=True))
    return ckpt


def find_latest(ckpt_dir: str | Path) -> Path | None:
    """``latest.pt`` in ``ckpt_dir`` if it exists (and resolves), else None."""
    p = Path(ckpt_dir) / "latest.pt"
    return p if p.exists() else None
