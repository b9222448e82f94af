"""``medclip-eval`` / ``python -m zeroshot``: run an evaluation suite on a model and write the report.

Examples::

    medclip-eval --suite demo --model runs/demo/checkpoints/latest.pt --out reports/demo
    medclip-eval --suite unimed21 --data-root /data/unimed21 --model unimed-clip-vit-b16 --pretrained w.pt
    medclip-eval --suite demo --model medclip-small --robustness --reference reports/ref/report.json
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from medclip.cli_common import HelpFormatter, cli_device
from medclip.config import ConfigError, to_dict
from medclip.models.load import load_model
from medclip.progress import Progress

from .cli_evidence import add_evidence_args, apply_suite_overrides, bootstrap_config, feature_store, run_evidence

log = logging.getLogger("zeroshot")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="medclip-eval", description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter
    )
    p.add_argument("--suite", help="built-in suite name (configs/eval/<name>.yaml) or a YAML path (required)")
    p.add_argument("--model", help="medclip trainer checkpoint (.pt) or a model name (required)")
    p.add_argument("--list-suites", action="store_true", help="print the built-in suites and exit")
    p.add_argument("--pretrained", default=None, help="weights for a model name (file or open_clip tag)")
    p.add_argument("--data-root", default=None, help="override the suite's data root")
    p.add_argument("--datasets", nargs="+", default=None, help="evaluate only these datasets of the suite")
    p.add_argument("--out", default=None, help="report folder (default reports/<suite>)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    p.add_argument("--precision", default="fp32", help="model precision (fp32, bf16, amp_bf16 ...)")
    p.add_argument("--batch-size", type=int, default=128, help="images per forward pass")
    p.add_argument("--workers", type=int, default=2, help="DataLoader decode workers")
    p.add_argument(
        "--max-samples", type=int, default=None, help="per dataset and split (probe too), a seeded random subset"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the --max-samples subsets and the probe")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--no-retrieval", action="store_true", help="skip the suite's retrieval sets")
    p.add_argument("--linear-probe", action="store_true", help="fit linear probes where the suite declares data")
    p.add_argument("--robustness", action="store_true", help="evaluate under every corruption x severity")
    p.add_argument("--corruptions", nargs="+", default=None, help="subset of zeroshot.robustness.CORRUPTIONS")
    p.add_argument("--robustness-max-samples", type=int, default=500, help="images per dataset for robustness")
    p.add_argument(
        "--reference",
        default=None,
        help="mCE reference: a report.json with robustness results, a checkpoint or a model name",
    )
    p.add_argument("--fewshot-results", nargs="+", default=None, help="few-shot results files/folders to plot")
    p.add_argument("--quiet", action="store_true", help="no progress lines/bars on stderr (results still printed)")
    add_evidence_args(p)  # CIs, --compare, --calibrate, --prompt-sensitivity, --clinical, --subgroups
    return p


def print_summary(results: list[dict], agg: dict, extras: dict) -> None:
    """The console summary: one line per dataset, the two means, one line per linear probe."""
    for r in results:
        if r["status"] == "ok":
            print(f"{r['name']:<24} {r['metric']:<18} {100 * r['score']:6.2f}  (n={r['n_samples']})")
        else:
            print(f"{r['name']:<24} MISSING: {r['message']}")
    if agg["mean_over_datasets"] is not None:
        print(
            f"mean over datasets: {100 * agg['mean_over_datasets']:.2f}   "
            f"mean of per-modality means: {100 * agg['mean_of_modality_means']:.2f}"
        )
    for p in extras.get("linear_probe", []):
        if p["status"] == "ok":
            zs = p.get("zero_shot_accuracy")
            zs_text = "" if zs is None else f"  zero-shot {100 * zs:6.2f} (n={p['n_test']})"
            print(
                f"{p['name']:<24} linear probe       {100 * p['accuracy']:6.2f}  "
                f"(train n={p['n_train']}, val n={p['n_val']}, test n={p['n_test']}, C={p['C']:g}){zs_text}"
            )


def main(argv: list[str] | None = None) -> dict:
    """Run the evaluation; returns the written report paths. Raises on bad input."""
    import torch

    from .evaluate import EvalOptions, evaluate_suite
    from .extras import run_extras
    from .report import build_report, write_report
    from .suites import load_suite, select

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list_suites:
        from .suites import list_suites

        for name, description in list_suites():
            print(f"{name:<12} {description}")
        return {}
    for flag in ("suite",) if args.compare else ("suite", "model"):
        if getattr(args, flag) is None:
            parser.error(f"the following arguments are required: --{flag}")
    t0 = time.perf_counter()
    if args.threads:
        torch.set_num_threads(args.threads)
    suite = load_suite(args.suite, args.data_root)
    apply_suite_overrides(args, suite)
    datasets = select(suite, args.datasets)
    device = cli_device(args.device)
    if args.compare:
        from .cli_evidence import run_compare

        opts = EvalOptions(
            batch_size=args.batch_size,
            workers=args.workers,
            max_samples=args.max_samples,
            seed=args.seed,
            cache={},
            bootstrap=bootstrap_config(args),
        )
        return run_compare(args, suite, datasets, device, opts)
    progress = Progress("medclip-eval", quiet=args.quiet)
    progress.stage(f"loading {args.model} on {device}")
    model, preprocess, tokenizer, info = load_model(args.model, args.pretrained, device, args.precision)
    opts = EvalOptions(
        batch_size=args.batch_size, workers=args.workers, max_samples=args.max_samples, seed=args.seed, cache={}
    )
    opts.bootstrap, opts.feature_store = bootstrap_config(args), feature_store(args, model, preprocess)
    results = evaluate_suite(
        model, tokenizer, suite, preprocess=preprocess, device=device, datasets=datasets, opts=opts, progress=progress
    )
    extras = run_extras(
        args, suite, datasets, results, model, preprocess, tokenizer, device, opts, info, progress=progress
    )
    extras.update(run_evidence(args, suite, datasets, results, model, preprocess, tokenizer, device, opts, info))
    if opts.feature_store is not None:
        opts.feature_store.save()
    options = {k: v for k, v in vars(args).items() if k not in ("model", "pretrained")}
    options["device"] = str(device)
    options["seconds"] = round(time.perf_counter() - t0, 2)
    report = build_report(suite=to_dict(suite), model=info, results=results, options=options, extras=extras)
    out = Path(args.out or Path("reports") / suite.name)
    paths = write_report(report, out)
    print_summary(results, report["aggregate"], extras)
    print(f"report: {paths['markdown']} (json: {paths['json']}) in {options['seconds']:.1f}s")
    if not any(r["status"] == "ok" for r in results):
        where = suite.data_root if args.data_root is None else args.data_root
        raise ValueError(f"no dataset of suite {suite.name!r} was evaluated ({len(results)} missing under {where})")
    return paths


def cli(argv: list[str] | None = None) -> int:
    """Console entry point: one-line errors, exit code 2 on bad input."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        main(argv)
    except BrokenPipeError:  # `medclip-eval --list-suites | grep -q demo`: the reader left early, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 0
    except (ConfigError, ValueError, FileNotFoundError, OSError) as e:
        lines = [ln for ln in str(e).splitlines() if ln.strip()]  # DataLoader workers add a traceback
        print(f"medclip-eval: error: {lines[-1].strip() if lines else type(e).__name__}", file=sys.stderr)
        return 2
    return 0
