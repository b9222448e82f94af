"""Run a suite: encode each dataset's images once, score against its text classifier, compute metrics.

The same code serves the CLI (one process) and the trainer hook (every rank encodes a strided slice;
scores are gathered so every rank computes the identical result dict).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from medclip.zeroshot_head import build_text_classifier

from .data import Items, MissingDatasetError, make_fast_loader, normalize_text, resolve_items
from .metrics import classification_metrics, multilabel_auc, reliability
from .stats.bootstrap import BootstrapConfig
from .stats.medmnist_metrics import medmnist_metrics, medmnist_task
from .stats.metric_cis import classification_cis, multilabel_cis
from .suites import MODALITIES, DatasetSpec, SuiteSpec, class_prompts, negative_prompts

log = logging.getLogger(__name__)


@dataclass
class EvalOptions:
    """Knobs of a suite run."""

    batch_size: int = 128
    workers: int = 2
    max_samples: int | None = None  # per dataset: a seeded random subset (None = all)
    seed: int = 0
    amp: bool = False  # bf16 autocast for the image tower on CUDA
    cache: dict | None = None  # image source -> feature row, shared within one run (clean images only)
    bootstrap: BootstrapConfig | None = field(default_factory=BootstrapConfig)  # None: no CIs
    feature_store: object | None = None  # zeroshot.feature_store.FeatureStore: features kept across runs
    auto_threads: bool = False  # True: while decode workers run, torch uses at most (cores - workers) threads
    keep_scores: bool = True  # results carry ``_scores`` (cosine, labels, keys) for --compare and analyses


def limit(items: Items, max_samples: int | None, seed: int) -> Items:
    """A seeded random subset of at most ``max_samples`` items, kept in the original order."""
    if max_samples is None or len(items) <= max_samples:
        return items
    idx = np.sort(np.random.default_rng(seed).choice(len(items), size=max_samples, replace=False))
    return items.subset(idx)


def _key(source):
    return tuple(source) if isinstance(source, list) else source


def _no_cache(opts: EvalOptions) -> EvalOptions:
    import dataclasses

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


@contextlib.contextmanager
def _share_cores(opts: EvalOptions, workers: int):
    """Cap torch's intra-op threads at ``cores - workers`` while decode workers share the CPU (restored after).

    On 2 cores, 2 spin-waiting intra-op threads next to 2 decode workers made the suite's encoding ~1.6x
    slower than the same encoding alone; the cap only ever lowers the thread count.
    """
    before = torch.get_num_threads()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    cap = max(1, cores - workers)
    if not opts.auto_threads or workers == 0 or before <= cap:
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


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def dataset_metrics(
    ds: DatasetSpec, items: Items, cos: np.ndarray, scale: float, bootstrap: BootstrapConfig | None = None
) -> dict:
    """All metrics of one dataset from its cosine scores (plus per-modality breakdown when asked).

    With ``bootstrap``, ``ci`` holds a percentile CI per metric (``zeroshot.stats.metric_cis``) and
    ``bootstrap`` the settings that produced them.
    """
    probs = _softmax(scale * cos.astype(np.float64))
    if ds.multilabel:
        mean, per = multilabel_auc(items.labels, cos)
        out = {"metrics": {"multilabel_auc": mean, "per_label_auc": per}, "score": mean}
        out["per_class_support"] = items.labels.sum(0).tolist()
        if bootstrap is not None:
            out["ci"] = multilabel_cis(items.labels, cos, bootstrap)
            out["score_ci"] = out["ci"]["multilabel_auc"]
            out["bootstrap"] = bootstrap.to_dict()
        if ds.layout == "npz" and ds.label_scoring == "pos_neg":  # ACC at 0.5 needs probabilities
            out["medmnist"] = medmnist_metrics(medmnist_task(True, cos.shape[1]), items.labels, cos, bootstrap)
        return out
    m = classification_metrics(items.labels, cos, probs)
    rel = reliability(items.labels, probs)
    out = {"metrics": m, "score": m[ds.metric], "reliability": rel}
    if ds.layout == "npz":  # the benchmark's own ACC / AUC (equal to accuracy / auc up to score ties)
        out["medmnist"] = medmnist_metrics(medmnist_task(False, cos.shape[1]), items.labels, probs, bootstrap)
    if bootstrap is not None:
        out["ci"] = classification_cis(items.labels, cos, probs, bootstrap)
        out["score_ci"] = out["ci"][ds.metric]
        out["bootstrap"] = bootstrap.to_dict()
    if ds.breakdown:
        mods = np.asarray(items.modalities)
        out["breakdown"] = {}
        for mod in [m for m in MODALITIES if m in set(items.modalities)]:
            sel = mods == mod
            sub = classification_metrics(items.labels[sel], cos[sel], probs[sel])
            out["breakdown"][mod] = {
                "n_samples": int(sel.sum()),
                "score": sub[ds.metric],
                **{k: sub[k] for k in ("accuracy", "balanced_accuracy", "macro_f1", "top5", "ece")},
            }
            if bootstrap is not None:
                keys = tuple(dict.fromkeys(("accuracy", "balanced_accuracy", "macro_f1", ds.metric)))
                ci = classification_cis(items.labels[sel], cos[sel], probs[sel], bootstrap, which=keys)
                out["breakdown"][mod]["ci"] = ci
                out["breakdown"][mod]["score_ci"] = ci[ds.metric]
    return out


def text_classifier(model, tokenizer, prompts: list[list[str]], *, device, cache: dict | None = None) -> torch.Tensor:
    """``build_text_classifier``, memoized in ``cache`` (datasets sharing classes and prompts encode once)."""
    key = ("text", tuple(tuple(p) for p in prompts))
    if cache is not None and key in cache:
        return cache[key]
    text = build_text_classifier(model, tokenizer, prompts, device=device)
    if cache is not None:
        cache[key] = text
    return text


def prompt_overlap_report(prompts: list[list[str]], captions: set[str], max_captions: int = 5000) -> dict:
    """Eval-prompt hygiene (spec R7): exact matches with the dataset's captions, plus the caption engineer's
    near-duplicate / n-gram statistics (``data_pipelines.captions.prompt_overlap``) when it is installed."""
    flat = sorted({p for ps in prompts for p in ps})
    exact = len({normalize_text(p) for p in flat} & captions)
    out = {"n_prompts": len(flat), "n_captions": len(captions), "exact": exact}
    try:
        from data_pipelines.captions import prompt_overlap
    except ImportError:
        return out
    stats = prompt_overlap(flat, sorted(captions)[:max_captions])
    out.update({k: stats[k] for k in ("near_duplicates", "max_jaccard", "ngram_overlap") if k in stats})
    return out


def evaluate_dataset(
    model,
    tokenizer,
    suite: SuiteSpec,
    ds: DatasetSpec,
    *,
    preprocess,
    device,
    opts: EvalOptions,
    rank: int = 0,
    world_size: int = 1,
    path: str | None = None,
) -> dict:
    """Evaluate one dataset; a missing dataset returns ``status: missing`` with the message."""
    base = {
        "name": ds.name,
        "modality": ds.modality,
        "layout": ds.layout,
        "metric": ds.metric,
        "shift_of": ds.shift_of,
        "classnames": [c.name for c in ds.classes],
    }
    clock = _Clock()
    try:
        items = limit(resolve_items(suite, ds, path), opts.max_samples, opts.seed)
    except MissingDatasetError as e:
        return {**base, "status": "missing", "message": str(e)}
    clock.lap("index")
    prompts = class_prompts(ds)
    scale = float(model.logit_scale.exp().item()) if hasattr(model, "logit_scale") else 1.0
    text_seconds: list[float] = []

    def make_text() -> torch.Tensor:  # runs while the decode workers read the first images
        t0 = time.perf_counter()
        text = text_classifier(model, tokenizer, prompts, device=device, cache=opts.cache)
        if ds.multilabel and ds.label_scoring == "pos_neg":  # CheXzero: softmax(pos, neg)[pos] per label
            neg = text_classifier(model, tokenizer, negative_prompts(ds), device=device, cache=opts.cache)
            text = torch.cat([text, neg])
        text_seconds.append(time.perf_counter() - t0)
        return text

    cos = score_items(model, preprocess, items, make_text, device=device, opts=opts, rank=rank, world_size=world_size)
    if ds.multilabel and ds.label_scoring == "pos_neg":
        from .stats.multilabel import pos_neg_scores

        n_pos = len(ds.classes)
        cos = pos_neg_scores(cos[:, :n_pos], cos[:, n_pos:], scale)
    clock.lap("text_and_images")
    clock.laps["text"] = round(sum(text_seconds), 3)  # overlapped with decoding; included in text_and_images
    res = dataset_metrics(ds, items, cos, scale, opts.bootstrap)
    clock.lap("metrics")
    if opts.keep_scores:
        res["_scores"] = {"cosine": cos, "labels": items.labels, "keys": list(items.keys)}
    if items.captions:
        res["prompt_overlap"] = prompt_overlap_report(prompts, items.captions)
        clock.lap("prompt_overlap")
    return {
        **base,
        "status": "ok",
        "n_samples": len(items),
        "skipped": items.skipped,
        "n_templates": len(ds.templates) if ds.templates else None,
        "prompts_per_class": [len(p) for p in prompts],
        "logit_scale": scale,
        "seconds": clock.total(),
        "timings": clock.laps,
        **res,
    }


class _Clock:
    """Wall-clock laps of one dataset's evaluation (reported as ``timings``)."""

    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self.last, 3)
        self.last = now

    def total(self) -> float:
        return time.perf_counter() - self.start


def evaluate_suite(
    model: torch.nn.Module,
    tokenizer: Callable,
    suite: SuiteSpec,
    *,
    preprocess: Callable,
    device: str | torch.device = "cpu",
    datasets: list[DatasetSpec] | None = None,
    opts: EvalOptions | None = None,
    rank: int = 0,
    world_size: int = 1,
    progress=None,
) -> list[dict]:
    """Evaluate every dataset of ``suite`` (or ``datasets``); missing ones are reported, not fatal.

    ``progress`` (a :class:`medclip.progress.Progress`) shows one bar/line per dataset; the caller then
    reports missing datasets itself (no log warning).
    """
    opts = opts or EvalOptions()
    device = torch.device(device)
    was_training = model.training
    model.eval()
    results = []
    todo = list(datasets if datasets is not None else suite.datasets)
    try:
        for ds in progress.iter(todo, "dataset", label=lambda d: d.name) if progress else todo:
            r = evaluate_dataset(
                model,
                tokenizer,
                suite,
                ds,
                preprocess=preprocess,
                device=device,
                opts=opts,
                rank=rank,
                world_size=world_size,
            )
            if r["status"] == "missing" and progress is None:
                log.warning("skipping %s", r["message"])
            results.append(r)
    finally:
        model.train(was_training)
    return results
