"""Command line: ``python -m data_pipelines build`` / ``verify`` / ``exclusion-list`` / ``demo-findings``
(also ``medclip-shards``)."""

from __future__ import annotations

import argparse
import sys

from medclip.cli_common import HelpFormatter, add_overrides, overrides_from
from medclip.config import ConfigError

from .config import load_build_config


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m data_pipelines", description=__doc__, formatter_class=HelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser(
        "build", help="build shards (default: the demo set into data/shards/demo)", formatter_class=HelpFormatter
    )
    b.add_argument("--config", action="append", default=[], help="YAML build config (repeatable, layered)")
    b.add_argument("--out", default=None, help="output root (default: the config's `out`)")
    b.add_argument("--workers", type=int, default=None, help="worker processes (default: min(4, cpus))")
    b.add_argument("--executor", choices=["local", "ray"], default="local", help="local processes or Ray actors")
    b.add_argument("--refresh", action="store_true", help="regenerate captions and rewrite every shard")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_overrides(b, "key.sub BuildConfig")
    v = sub.add_parser(
        "verify", help="check a shard folder (counts, decoding, schema, exclusion list)", formatter_class=HelpFormatter
    )
    v.add_argument("dirs", nargs="+", help="split folders (or a build root holding split folders)")
    v.add_argument("--exclude", action="append", default=[], help="exclusion list(s) of pixel sha256")
    v.add_argument(
        "--exclude-splits",
        default="train,val",
        help="comma-separated splits the exclusion lists are checked against (default: the training splits)",
    )
    v.add_argument(
        "--near-dup",
        action="store_true",
        help="also fail on near-duplicates (perceptual hash) of the exclusion lists' images: resized/re-encoded copies",
    )
    v.add_argument("--near-dup-threshold", type=int, default=8, help="Hamming distance of 64 bits (default: 8)")
    e = sub.add_parser(
        "exclusion-list",
        help="write the pixel sha256 of an eval set (shard or image folders)",
        formatter_class=HelpFormatter,
    )
    e.add_argument("--from", dest="sources", nargs="+", action="extend", required=True, help="folders to read")
    e.add_argument("--out", required=True, help="output text file (one sha256 per line)")
    f = sub.add_parser(
        "demo-findings",
        help="write where the demo generator drew each finding (boxes JSON, optional masks .npz)",
        formatter_class=HelpFormatter,
    )
    f.add_argument("--out", required=True, help="output JSON file of finding boxes")
    f.add_argument("--masks", default=None, help="also write the boolean masks to this .npz file")
    f.add_argument("--split", default="test", help="demo split (default: test)")
    f.add_argument("--per-class", type=int, default=100, help="images per class (default: the demo build's 100)")
    f.add_argument("--seed", type=int, default=0, help="generator seed (default: the demo build's 0)")
    f.add_argument("--image-size", type=int, default=96, help="image side in pixels (default: the demo build's 96)")
    return p


def cli(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (one-line errors, no tracebacks, for bad input)."""
    args = _parser().parse_args(argv)
    try:
        if args.cmd == "build":
            return _build(args)
        if args.cmd == "exclusion-list":
            from .exclusion import write_exclusion_list

            write_exclusion_list(args.sources, args.out)
            return 0
        if args.cmd == "demo-findings":
            return _demo_findings(args)
        return _verify(args)
    except (ConfigError, ValueError, FileNotFoundError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


def _build(args) -> int:
    import os

    from .build import build
    from .summary import print_summary

    cfg = load_build_config(args.config, overrides_from(args, "medclip-shards"))
    workers = args.workers if args.workers is not None else max(1, min(4, os.cpu_count() or 1))
    report = build(
        cfg,
        out=args.out,
        workers=workers,
        refresh=args.refresh,
        progress=not args.no_progress,
        executor=args.executor,
    )
    print_summary(report, workers=workers)
    return 0


def _verify(args) -> int:
    from .verify import verify_paths

    splits = [x.strip() for x in args.exclude_splits.split(",") if x.strip()]
    ok = verify_paths(args.dirs, exclude=args.exclude, exclude_splits=splits)
    if args.near_dup and args.exclude:
        from .exclusion import near_duplicate_problems

        ok &= not near_duplicate_problems(args.dirs, args.exclude, splits=splits, threshold=args.near_dup_threshold)
    return 0 if ok else 1


def _demo_findings(args) -> int:
    from .sources.demo import DEMO_SPLITS
    from .sources.demo_boxes import export_findings

    if args.split not in DEMO_SPLITS:
        raise ValueError(f"unknown demo split {args.split!r}; expected one of {', '.join(DEMO_SPLITS)}")
    doc = export_findings(
        args.out, split=args.split, per_class=args.per_class, seed=args.seed, size=args.image_size, masks=args.masks
    )
    print(f"{len(doc['samples'])} finding boxes ({args.split}, {args.per_class} per class) written to {args.out}")
    return 0
