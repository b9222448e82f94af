"""The shard builder: plan -> write chunks (in parallel, resumable) -> finalise each split folder.

    from data_pipelines.build import build
    from data_pipelines.config import BuildConfig
    report = build(BuildConfig(), out="data/shards/demo", workers=2)

Output: ``<out>/<split>/<prefix>-NNNNNN.tar`` + ``sizes.json`` + ``manifest.json`` per split.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from .config import BuildConfig
from .interop import open_clip_train_flags
from .plan import Plan, make_sources, plan_build
from .state import finalize, load_done, save_record, write_json
from .writer import ChunkTask, write_chunk


class BuildInterrupted(RuntimeError):
    """Raised when ``stop_after`` chunks were written (used to test resuming)."""


@dataclass
class BuildReport:
    """What a build did (printed as the summary; returned for tests and benchmarks)."""

    out: str
    splits: dict = field(default_factory=dict)  # split -> {samples, shards, bytes, skipped, excluded}
    chunks_written: int = 0
    chunks_reused: int = 0
    items_processed: int = 0
    seconds: float = 0.0
    plan_seconds: float = 0.0  # enumerate + caption + shuffle (main process)
    write_seconds: float = 0.0  # loading, encoding and writing the chunks (the parallel phase)
    caption_stats: dict = field(default_factory=dict)
    heldout: dict | None = None  # overlap summary of the held-out eval bank (captions.eval_bank)
    duplicates: int = 0  # samples dropped by hygiene.dedup (same decoded pixels within a source)
    near_duplicates: dict | None = None  # hygiene.near_dup section (pairs per source pair, dropped per source)
    mixing: dict = field(default_factory=dict)  # split -> source -> {available, kept, cap, weight, share}


_W: dict = {}


def single_thread_blas():
    """Context limiting BLAS/OpenMP pools to one thread (the demo generator's small matrix products).

    Multi-threaded OpenBLAS on 96x96 products only adds spin-waiting, and with several worker processes it
    oversubscribes the cores (measured: 3.6x more CPU time for the demo build). No-op without threadpoolctl.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(1)


def _init_worker(cfg: BuildConfig, captions: dict, exclude: frozenset) -> None:
    _W.update(cfg=cfg, sources=make_sources(cfg), captions=captions, exclude=exclude)
    _W["threads"] = single_thread_blas()  # kept for the worker's lifetime


def _run_task(task: ChunkTask) -> dict:
    return write_chunk(task, _W["sources"], _W["captions"], _W["exclude"], _W["cfg"])


def use_report_captions(cfg: BuildConfig, sources: dict, *, refresh: bool = False) -> None:
    """Give the sources with reports the build's ``captions`` settings (one report captioner per backend)."""
    users = [s for s in sources.values() if hasattr(s, "use_captions")]
    if users:
        ccfg = cfg.caption_config()
        ccfg.refresh = ccfg.refresh or refresh
        shared: dict = {}
        for s in users:
            s.use_captions(ccfg, shared)


def read_exclusions(paths: list[str], *, threshold: int | None = None):
    """Read exclusion lists: text (one sha256 per line, ``#`` comments, ``phash <hex>`` lines) or a JSON list.

    Returns:
        A frozenset of sha256 values (:class:`data_pipelines.exclusion.Exclusions`) whose ``phashes`` holds
        the perceptual hashes of the lists.
    """
    from .exclusion import Exclusions, parse_exclusion_text

    shas, phs = set(), set()
    for p in paths:
        a, b = parse_exclusion_text(Path(p).read_text(), p)
        shas |= a
        phs |= b
    return Exclusions.of(shas, phs, threshold)


def build(
    cfg: BuildConfig,
    *,
    out: str | os.PathLike | None = None,
    workers: int = 1,
    refresh: bool = False,
    progress: bool = True,
    stop_after: int | None = None,
    log=print,
    executor: str = "local",
) -> BuildReport:
    """Build (or resume, or verify-and-skip) the shards of ``cfg``.

    Args:
        cfg: Build config.
        out: Output root (default ``cfg.out``).
        workers: Worker processes (1 = in this process). Output is identical for any value.
        refresh: Regenerate captions (LLM backends) and rewrite every chunk.
        progress: Show a tqdm progress bar.
        stop_after: Stop (raise :class:`BuildInterrupted`) after writing this many chunks (resume tests).
        log: Line printer for the summary.
        executor: ``local`` (this process / a process pool) or ``ray`` (Ray actors:
            :mod:`data_pipelines.executors`); the shards are byte-identical either way.
    """
    t0 = time.perf_counter()
    cfg.validate()
    root = Path(out if out is not None else cfg.out)
    sources = make_sources(cfg)
    use_report_captions(cfg, sources, refresh=refresh)
    plan = plan_build(cfg, sources, refresh=refresh, log=log)
    exclude = read_exclusions(cfg.hygiene.exclude, threshold=cfg.hygiene.near_dup_threshold)
    if not cfg.hygiene.near_dup_exclude:
        exclude = frozenset(exclude)  # sha256 only
    report = BuildReport(out=str(root), caption_stats=plan.caption_stats)
    tasks, done = _pending_tasks(cfg, plan, root, refresh=refresh)
    report.chunks_reused = sum(len(d) for d in done.values())
    report.plan_seconds = time.perf_counter() - t0
    total = sum(len(t.items) for t in tasks)
    bar = _bar(total, progress)
    t1 = time.perf_counter()
    written = 0

    def record(task: ChunkTask, rec: dict) -> None:
        nonlocal written
        for s in rec["skips"]:
            s["split"] = task.split
        for q in rec["parts"]:
            q["path"] = str(Path(task.tmp_dir) / q["tmp"])
        save_record(Path(task.tmp_dir).parent, rec)
        done[task.split][task.index] = rec
        report.items_processed += len(task.items)
        written += 1
        bar.update(len(task.items))
        if stop_after is not None and written >= stop_after:
            raise BuildInterrupted(f"stopped after {written} chunks")

    try:
        if executor == "ray":
            from .executors import execute_ray

            execute_ray(
                tasks, cfg, plan.captions, exclude, workers, record, init_worker=_init_worker, run_task=_run_task
            )
        else:
            _execute(tasks, cfg, plan, exclude, workers, record)
    finally:
        bar.close()
    report.write_seconds = time.perf_counter() - t1
    report.chunks_written = written
    report.duplicates = _dedup(cfg, plan, done, root)
    report.near_duplicates = _near_dup(cfg, plan, done, root)
    report.mixing = plan.mixing
    _finalize_splits(cfg, plan, done, root, report)
    if plan.heldout is not None:
        write_json(root / HELDOUT_FILE, plan.heldout)
        report.heldout = _heldout_summary(plan.heldout)
    report.seconds = time.perf_counter() - t0
    return report


def _pending_tasks(cfg: BuildConfig, plan: Plan, root: Path, *, refresh: bool) -> tuple[list[ChunkTask], dict]:
    """Chunks still to write (longest first) and the verified records of those already done, per split."""
    tasks, done = [], {}
    for split, chunks in plan.chunks.items():
        sdir = root / split
        (sdir / ".build").mkdir(parents=True, exist_ok=True)
        hashes = [plan.chunk_hash(split, i) for i in range(len(chunks))]
        done[split] = {} if refresh else load_done(sdir, hashes, plan.config_hash)
        for i, items in enumerate(chunks):
            if i not in done[split]:
                tasks.append(ChunkTask(split, i, items, str(sdir / ".build"), split in cfg.hygiene.apply_to, hashes[i]))
    # longest chunks first: the last chunk running alone on one worker is then the shortest
    tasks.sort(key=lambda t: (-len(t.items), t.split, t.index))
    return tasks, done


def _execute(tasks: list[ChunkTask], cfg: BuildConfig, plan: Plan, exclude: frozenset, workers: int, record) -> None:
    """Write the chunks, in this process or a process pool; ``record(task, rec)`` runs here for each."""
    if workers <= 1 or len(tasks) <= 1:
        with single_thread_blas():
            _init_worker(cfg, plan.captions, exclude)
            for task in tasks:
                record(task, _run_task(task))
        return
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_init_worker, initargs=(cfg, plan.captions, exclude)
    ) as ex:
        pending = {ex.submit(_run_task, t): t for t in tasks}
        try:
            while pending:
                fin, _ = wait(pending, return_when=FIRST_COMPLETED)
                for f in sorted(fin, key=lambda f: pending[f].index):
                    record(pending.pop(f), f.result())
        except BaseException:
            for f in pending:
                f.cancel()
            raise


def _finalize_splits(cfg: BuildConfig, plan: Plan, done: dict, root: Path, report: BuildReport) -> None:
    """Name the shards and write ``sizes.json`` / ``manifest.json`` of every split; fill ``report.splits``."""
    for split, chunks in plan.chunks.items():
        recs = [done[split][i] for i in range(len(chunks))]
        meta = _meta(cfg, plan, split)
        if plan.mixing.get(split):
            meta["mixing"] = plan.mixing[split]
        if report.near_duplicates is not None:
            meta["near_duplicates"] = report.near_duplicates
        man = finalize(root / split, split, recs, prefix=cfg.shards.prefix or split, meta=meta)
        report.splits[split] = {
            "samples": man["num_samples"],
            "shards": man["num_shards"],
            "bytes": sum(s["bytes"] for s in man["shards"]),
            "skipped": man["skipped"]["by_reason"],
            "excluded": man["excluded"],
            "open_clip_train": open_clip_train_flags(root / split, man) if man["num_shards"] else None,
        }


def _dedup(cfg: BuildConfig, plan: Plan, done: dict, root: Path) -> int:
    """Drop same-pixel samples within each source (``hygiene.dedup``); see :mod:`data_pipelines.dedup`."""
    if cfg.hygiene.dedup == "none":
        return 0
    from .dedup import apply_dedup

    eval_splits = [s for s in plan.chunks if s not in cfg.hygiene.apply_to]
    return apply_dedup(done, eval_splits, {s: root / s / ".build" for s in plan.chunks})


def _near_dup(cfg: BuildConfig, plan: Plan, done: dict, root: Path) -> dict | None:
    """Cross-source perceptual-hash near-duplicates (``hygiene.near_dup``); see :mod:`data_pipelines.near_dup`."""
    if cfg.hygiene.near_dup == "none":
        return None
    from .near_dup import apply_near_dup

    eval_splits = [s for s in plan.chunks if s not in cfg.hygiene.apply_to]
    return apply_near_dup(cfg, done, eval_splits, {s: root / s / ".build" for s in plan.chunks})


HELDOUT_FILE = "eval_captions.json"


def _heldout_summary(doc: dict) -> dict:
    ov = doc["overlap"]
    return {
        "file": HELDOUT_FILE,
        "classes": len(doc["classes"]),
        "exact": ov["exact_total"],
        "near_duplicates": ov["near_duplicates_total"],
        "max_same_class_jaccard": ov["max_same_class_jaccard"],
        "ngram_overlap": ov["all"]["ngram_overlap"],
    }


def _meta(cfg: BuildConfig, plan: Plan, split: str) -> dict:
    stats = {
        k: v
        for k, v in plan.caption_stats.items()
        if k not in ("llm_calls", "llm_errors", "cache_hits", "cache_misses", "records")
    }
    used = {tid for ch in plan.chunks[split] for _, _, tid in ch}
    return {
        "name": cfg.name,
        "seed": cfg.seed,
        "shuffle": {
            "scope": "global across sources",
            "seed": cfg.seed,
            "rng": "numpy default_rng([seed, crc32(split)])",
        },
        "config_hash": plan.config_hash,
        "config": {k: v for k, v in cfg.resolved().items() if k != "out"},
        "captions": {
            **stats,
            "banks": {t: plan.bank_ids[t] for t in sorted(used) if t in plan.bank_ids},
            **({"heldout": _heldout_summary(plan.heldout)} if plan.heldout is not None else {}),
        },
        "enumeration_skips": list(plan.skips.get(split, [])),
    }


def _bar(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="img", desc="shards", disable=not enabled or total == 0, smoothing=0.1)
