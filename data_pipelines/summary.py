"""Human-readable build summary (printed by the CLI)."""

from __future__ import annotations


def print_summary(report, *, workers: int = 1, log=print) -> None:
    """Print per-split counts, skips and timing of a :class:`~data_pipelines.build.BuildReport`."""
    log(f"shards written to {report.out}/ (workers={workers})")
    for split, s in report.splits.items():
        skipped = ", ".join(f"{k}={v}" for k, v in s["skipped"].items()) or "none"
        log(
            f"  {split:<14} {s['samples']:>7} samples {s['shards']:>4} shards {s['bytes'] / 1e6:8.1f} MB"
            f"  skipped: {skipped}  excluded: {s['excluded']}"
        )
    train = report.splits.get("train")
    if train and train.get("open_clip_train"):
        log(f"  open_clip_train: {train['open_clip_train']}")
    cs = report.caption_stats
    if cs:
        log(
            f"  captions: backend={cs.get('backend')} triples={cs.get('triples')} "
            f"fallbacks={cs.get('fallbacks')} llm_calls={cs.get('llm_calls')} cache_hits={cs.get('cache_hits')}"
        )
    pairs = (cs or {}).get("pairs") or {}
    for name, st in sorted(pairs.items()):
        phi = ", ".join(f"{k}={v}" for k, v in st["phi_replaced"].items()) or "none"
        texts = ", ".join(f"{k}={v}" for k, v in st["texts"].items()) or "none"
        log(f"  pairs {name}: texts {texts}; identifiers replaced: {phi}; report fallbacks {st['report_fallbacks']}")
        rc = st.get("report_captions")
        if rc:
            why = ", ".join(f"{k}={v}" for k, v in rc["failure_reasons"].items()) or "none"
            log(
                f"  pairs {name} report captions: backend={rc['backend']} reports={rc['reports']} "
                f"llm_calls={rc['llm_calls']} cache_hits={rc['cache_hits']} fallbacks={rc['fallbacks']} "
                f"validation_failures={rc['validation_failures']} ({why})"
            )
    for split, mix in sorted((getattr(report, "mixing", None) or {}).items()):
        parts = ", ".join(f"{s}={m['kept']}/{m['available']}" for s, m in mix.items())
        log(f"  mix ({split}, kept/available): {parts}")
    nd = getattr(report, "near_duplicates", None)
    if nd:
        pairs_s = ", ".join(f"{k}={v}" for k, v in nd["pairs"].items()) or "none"
        dropped = ", ".join(f"{k}={v}" for k, v in nd["dropped"].items()) or "none"
        log(f"  near-duplicates across sources ({nd['mode']}, <= {nd['threshold']} bits): {pairs_s}; dropped {dropped}")
    h = getattr(report, "heldout", None)
    if h:
        log(
            f"  held-out eval captions: {report.out}/{h['file']} ({h['classes']} classes); overlap with training "
            f"captions: exact={h['exact']} near_dup={h['near_duplicates']} "
            f"max_jaccard={h['max_same_class_jaccard']} 4gram={h['ngram_overlap']:.1%}"
        )
    rate = report.items_processed / report.seconds if report.seconds > 0 else 0.0
    log(
        f"  chunks written {report.chunks_written}, reused {report.chunks_reused}; "
        f"{report.items_processed} images processed in {report.seconds:.1f}s ({rate:.0f} img/s)"
    )
