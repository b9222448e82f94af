"""Run a suite: encode each dataset's images once, score against its text classifier, compute metrics.

The same code serves the CLI (one process) and the trainer hook (every rank encodes a strided slice;
scores are gathered so every rank computes the identical result dict). The parts live in their own files:
:mod:`.options` (``EvalOptions``, ``limit``), :mod:`.encode` (images -> features -> cosine scores) and
:mod:`.dataset_metrics` (scores -> metrics and CIs); this module builds the text classifier and runs
datasets, and re-exports the names callers import from here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import torch

from medclip.zeroshot_head import build_text_classifier

from .data import MissingDatasetError, normalize_text, resolve_items
from .dataset_metrics import dataset_metrics
from .encode import encode_images, gather_rows, score_items
from .options import EvalOptions, limit
from .suites import DatasetSpec, SuiteSpec, class_prompts, negative_prompts

__all__ = [
    "EvalOptions",
    "dataset_metrics",
    "encode_images",
    "evaluate_dataset",
    "evaluate_suite",
    "gather_rows",
    "limit",
    "prompt_overlap_report",
    "score_items",
    "text_classifier",
]

log = logging.getLogger(__name__)


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
