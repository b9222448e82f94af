"""Image side of a suite run: decode + encode images once (run cache, on-disk feature store), score them
against a class-embedding matrix, and gather rank slices (the trainer hook shards images over ranks).

The decode workers start before the text classifier is built (``during``), so decoding overlaps it, and
torch's intra-op threads can be capped while the workers share the cores (:func:`_share_cores`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .data import Items, make_fast_loader
from .options import EvalOptions


def _key(source):
    return tuple(source) if isinstance(source, list) else source


def _no_cache(opts: EvalOptions) -> EvalOptions:
    return dataclasses.replace(opts, cache=None, feature_store=None)


@torch.no_grad()
def encode_images(
    model: torch.nn.Module,
    preprocess: Callable,
    sources: list,
    *,
    device: torch.device,
    opts: EvalOptions,
    array_transform: Callable | None = None,
    during: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Unit-norm image features ``(N, d)`` (float32, on ``device``) in the order of ``sources``.

    ``during`` (e.g. building the text classifier) runs once after the decode workers have started and
    before the first batch is consumed, so decoding overlaps it.
    """
    device = torch.device(device)
    cache = opts.cache if array_transform is None else None
    if cache is not None:
        todo = [s for s in dict.fromkeys(map(_key, sources)) if s not in cache]
        if todo and opts.feature_store is not None:
            todo = _from_store(opts.feature_store, todo, cache, device)
        if todo:
            new = encode_images(model, preprocess, todo, device=device, opts=_no_cache(opts), during=during)
            cache.update(zip(todo, new))
            if opts.feature_store is not None:
                from .feature_store import source_sha256

                for src, f in zip(todo, new):
                    opts.feature_store.put(source_sha256(src), f.cpu().numpy())
        elif during is not None:
            during()
        if not sources:
            return torch.empty(0)
        return torch.stack([cache[_key(s)] for s in sources])
    loader, finish = make_fast_loader(
        sources, preprocess, batch_size=opts.batch_size, workers=opts.workers, array_transform=array_transform
    )
    out = torch.empty(0)
    feats = []
    use_amp = opts.amp and device.type == "cuda"
    batches = iter(loader)  # workers start decoding here
    if during is not None:
        during()
    with _share_cores(opts, loader.num_workers if device.type == "cpu" else 0):
        for x, _ in batches:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                f = model.encode_image(finish(x.to(device, non_blocking=True)))
            feats.append(F.normalize(f.float(), dim=-1))
    if feats:
        out = torch.cat(feats)
    return out


def _from_store(store, todo: list, cache: dict, device) -> list:
    """Fill ``cache`` from the on-disk store; return the sources still to encode."""
    from .feature_store import source_sha256

    left = []
    for src in todo:
        row = store.get(source_sha256(src))
        if row is None:
            left.append(src)
        else:
            cache[src] = torch.from_numpy(np.asarray(row)).to(device)
    return left


def _cap_wanted(setting: bool | str, cores: int) -> bool:
    """Whether to cap intra-op threads: ``True`` / ``False`` as given; ``"load"`` when the machine's 1-minute
    load average is at least the core count (other processes already fill the cores)."""
    if setting == "load":
        try:
            return os.getloadavg()[0] >= cores
        except OSError:  # no load average on this platform
            return False
    if isinstance(setting, bool):
        return setting
    raise ValueError(f"auto_threads must be True, False or 'load', got {setting!r}")


@contextlib.contextmanager
def _share_cores(opts: EvalOptions, workers: int):
    """Cap torch's intra-op threads at ``cores - workers`` while decode workers share the CPU (restored after).

    On 2 cores, 2 spin-waiting intra-op threads next to 2 decode workers made the suite's encoding ~1.6x
    slower than the same encoding alone; the cap only ever lowers the thread count. Measured 2026-12-02 in
    one process, runs interleaved, load average ~5 on 2 cores: the image part of the demo suite (680 images,
    text classifier cached) took 8.25 s wall / 5.3 s CPU uncapped and 3.17 s / 2.6 s capped (best of 3).
    Near idle an earlier session found the cap slower (noisy), hence the ``"load"`` default.
    """
    before = torch.get_num_threads()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    cap = max(1, cores - workers)
    if workers == 0 or before <= cap or not _cap_wanted(opts.auto_threads, cores):
        yield
        return
    torch.set_num_threads(cap)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def gather_rows(local: np.ndarray, local_idx: np.ndarray, n_total: int, world_size: int) -> np.ndarray:
    """Reassemble rows computed on strided rank slices into the full ``(n_total, ...)`` array on every rank."""
    if world_size == 1:
        return local
    import torch.distributed as dist

    parts: list = [None] * world_size
    dist.all_gather_object(parts, (local_idx, local))
    out = np.zeros((n_total, *local.shape[1:]), dtype=local.dtype)
    for idx, rows in parts:
        out[idx] = rows
    return out


def score_items(
    model, preprocess, items: Items, text, *, device, opts, rank=0, world_size=1, array_transform=None
) -> np.ndarray:
    """Cosine scores ``(N, C)`` of every item against the class embeddings, sharded over ranks.

    ``text`` is the ``(C, d)`` class embedding tensor, or a zero-argument callable returning it (then it is
    built while the decode workers read the first images).
    """
    idx = np.arange(rank, len(items), world_size)
    sources = [items.sources[i] for i in idx]
    local_transform = _Offset(array_transform, idx) if array_transform is not None else None
    box: list = [text] if isinstance(text, torch.Tensor) else []

    def build() -> None:
        if not box:
            box.append(text())

    feats = encode_images(
        model, preprocess, sources, device=device, opts=opts, array_transform=local_transform, during=build
    )
    build()
    text = box[0]
    if len(idx) == 0:
        cos = np.zeros((0, text.shape[0]), dtype=np.float32)
    else:
        cos = (feats @ text.to(feats.device).T).cpu().numpy()
    return gather_rows(cos, idx, len(items), world_size)


class _Offset:
    """Maps a rank-local item index back to the global one before calling ``fn(i, array)``."""

    def __init__(self, fn: Callable, idx: np.ndarray) -> None:
        self.fn, self.idx = fn, idx

    def __call__(self, i: int, arr: np.ndarray) -> np.ndarray:
        return self.fn(int(self.idx[i]), arr)
