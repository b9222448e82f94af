"""The optional parts of a CLI run: retrieval, linear probes, robustness (mCE) and few-shot curves."""

from __future__ import annotations

import logging
import os

from .data import MissingDatasetError, resolve_items

log = logging.getLogger(__name__)


def run_extras(args, suite, datasets, results, model, preprocess, tokenizer, device, opts, info, progress=None) -> dict:
    """Run what the CLI flags ask for; returns the report keys (``retrieval``, ``linear_probe`` ...)."""
    from pathlib import Path

    extras: dict = {}
    if suite.retrieval and not args.no_retrieval:
        from .retrieval import retrieval_on_shards

        extras["retrieval"] = [
            retrieval_on_shards(
                model,
                tokenizer,
                preprocess,
                _root(suite, r["path"]),
                name=r["name"],
                device=device,
                opts=opts,
                max_samples=r.get("max_samples"),
                captions=r.get("captions", "primary"),
            )
            for r in suite.retrieval
        ]
    ok = {r["name"] for r in results if r["status"] == "ok"}
    if args.linear_probe:
        extras["linear_probe"] = _linear_probes(suite, datasets, results, ok, model, preprocess, device, opts, progress)
    if args.robustness:
        extras["robustness"] = _robustness(args, suite, datasets, ok, model, preprocess, tokenizer, device, opts)
    if args.fewshot_results:
        from .fewshot_results import read_fewshot_results

        extras["fewshot"] = read_fewshot_results([Path(p) for p in args.fewshot_results])
    return extras


def _linear_probes(suite, datasets, results, ok, model, preprocess, device, opts, progress) -> list[dict]:
    """A linear probe per evaluated dataset with a ``probe_train`` split, with its zero-shot accuracy beside it."""
    from .probe import linear_probe

    by_name = {r["name"]: r for r in results}
    out = []
    for ds in datasets:
        if ds.name in ok and ds.probe_train:
            if progress is not None:
                progress.stage(f"linear probe {ds.name}: encoding and fitting")
            kw = {} if opts.max_samples is None else {"max_samples": opts.max_samples}  # else the probe's own cap
            p = linear_probe(model, preprocess, suite, ds, device=device, opts=opts, **kw)
            p["zero_shot_accuracy"] = by_name[ds.name]["metrics"].get("accuracy")
            out.append(p)
    return out


def _robustness(args, suite, datasets, ok, model, preprocess, tokenizer, device, opts) -> dict:
    """mCE over the evaluated datasets whose items resolve, against ``--reference`` (a report or a model)."""
    from .robust_eval import load_reference_report, run_robustness

    reference = None
    if args.reference:
        if args.reference.endswith(".json"):
            reference = load_reference_report(args.reference)
        else:
            from medclip.models.load import load_model

            rm, rpre, rtok, rinfo = load_model(args.reference, None, device, "fp32")
            reference = (rinfo["id"], (rm, rpre, rtok))
    items = {}
    for ds in datasets:
        if ds.name in ok:
            try:
                items[ds.name] = resolve_items(suite, ds)
            except MissingDatasetError:
                pass
    return run_robustness(
        model,
        tokenizer,
        preprocess,
        suite,
        datasets,
        items,
        device=device,
        opts=opts,
        corruptions=args.corruptions,
        max_samples=args.robustness_max_samples,
        reference=reference,
    )


def _root(suite, path: str):
    from pathlib import Path

    p = Path(os.path.expanduser(path))
    return p if p.is_absolute() or suite.data_root is None else Path(suite.data_root).expanduser() / p
