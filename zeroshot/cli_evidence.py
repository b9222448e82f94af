"""The evidence options of ``medclip-eval``: CI settings, ``--calibrate``, ``--prompt-sensitivity`` and
head-to-head comparisons (``--compare A B`` of two models / report folders, ``--compare-suite`` for a second
prompt set on the same model and images).

Kept apart from ``cli.py`` so the CLI only calls :func:`add_evidence_args`, :func:`bootstrap_config`,
:func:`run_evidence` and, for ``--compare``, :func:`run_compare`.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from .stats.bootstrap import BootstrapConfig


def add_evidence_args(p: argparse.ArgumentParser) -> None:
    """Add the CI / calibration / comparison flags to the ``medclip-eval`` parser."""
    g = p.add_argument_group("evidence (confidence intervals, calibration, comparisons)")
    g.add_argument("--bootstrap-resamples", type=int, default=1000, help="bootstrap resamples for every CI")
    g.add_argument("--ci-level", type=float, default=0.95, help="two-sided CI level")
    g.add_argument("--bootstrap-seed", type=int, default=0, help="seed of the bootstrap draws (recorded)")
    g.add_argument("--no-ci", action="store_true", help="point estimates only")
    g.add_argument("--calibrate", action="store_true", help="fit a temperature on probe_val, report and save it")
    g.add_argument("--prompt-sensitivity", action="store_true", help="per-template and name-only accuracy")
    g.add_argument("--clinical", action="store_true", help="CheXpert-style protocol on multi-label datasets")
    g.add_argument("--subgroups", nargs="+", default=None, metavar="ATTR", help="per-group metrics for attributes")
    g.add_argument(
        "--compare",
        nargs=2,
        metavar=("A", "B"),
        default=None,
        help="compare two models (checkpoint / name) or two report folders on the suite's images",
    )
    g.add_argument(
        "--compare-suite",
        default=None,
        help="a second suite file (other prompts, same datasets): --model with it vs --model with --suite",
    )
    g.add_argument("--feature-cache", default=None, help="folder of on-disk image features (repeated analyses)")
    g.add_argument("--alpha", type=float, default=0.05, help="significance level of the verdicts (after Holm)")
    g.add_argument("--medmnist-size", type=int, default=None, choices=(28, 64, 128, 224), help="npz image size")


def apply_suite_overrides(args: argparse.Namespace, suite) -> None:
    """Suite settings the evidence flags override (``--medmnist-size`` -> ``npz_size``)."""
    if getattr(args, "medmnist_size", None):
        suite.npz_size = args.medmnist_size


def bootstrap_config(args: argparse.Namespace) -> BootstrapConfig | None:
    """The CI settings the flags ask for (None with ``--no-ci``)."""
    if args.no_ci:
        return None
    return BootstrapConfig(resamples=args.bootstrap_resamples, level=args.ci_level, seed=args.bootstrap_seed)


def feature_store(args: argparse.Namespace, model, preprocess):
    """A :class:`zeroshot.feature_store.FeatureStore` for ``--feature-cache`` (None without it)."""
    if not getattr(args, "feature_cache", None):
        return None
    from .feature_store import FeatureStore

    return FeatureStore(args.feature_cache, model, preprocess)


def run_evidence(args, suite, datasets, results, model, preprocess, tokenizer, device, opts, info) -> dict:
    """Report keys for ``--calibrate``, ``--prompt-sensitivity`` and ``--compare-suite``."""
    out: dict = {}
    if args.calibrate:
        from .calibrate import run_calibration

        out["calibration"] = run_calibration(
            model, tokenizer, preprocess, suite, datasets, results, device=device, opts=opts, info=info
        )
    if args.prompt_sensitivity:
        from .prompt_sensitivity import run_prompt_sensitivity

        out["prompt_sensitivity"] = run_prompt_sensitivity(
            model, tokenizer, suite, datasets, results, device=device, opts=opts, preprocess=preprocess
        )
    if args.clinical:
        from .clinical import run_clinical

        out["clinical"] = run_clinical(model, tokenizer, preprocess, suite, datasets, results, device=device, opts=opts)
    if args.subgroups:
        from .subgroups import run_subgroups

        out["subgroups"] = run_subgroups(suite, datasets, results, args.subgroups, cfg=opts.bootstrap)
    if args.compare_suite:
        from .compare import compare_runs
        from .evaluate import evaluate_suite
        from .suites import load_suite

        other = load_suite(args.compare_suite, args.data_root or suite.data_root)  # the same images
        names = {d.name for d in datasets}
        other_ds = [d for d in other.datasets if d.name in names]
        if not other_ds:
            raise ValueError(f"--compare-suite {args.compare_suite}: no dataset named like one of {sorted(names)}")
        res_b = evaluate_suite(
            model, tokenizer, other, preprocess=preprocess, device=device, datasets=other_ds, opts=opts
        )
        cfg = opts.bootstrap or BootstrapConfig()
        out["comparison"] = {
            **compare_runs(results, res_b, cfg, args.alpha),
            "a": f"{info['id']} with suite {suite.name}",
            "b": f"{info['id']} with suite {other.name} ({args.compare_suite})",
        }
    return out


def _side(spec: str, args, suite, datasets, device, opts) -> tuple[str, list[dict]]:
    """Results with scores for one side of ``--compare``: a report folder, or a model evaluated now."""
    if os.path.isdir(spec) and (Path(spec) / "report.json").is_file():
        from .compare import load_scores

        return spec, load_scores(spec)
    from medclip.models.load import load_model

    from .evaluate import evaluate_suite

    model, preprocess, tokenizer, info = load_model(spec, None, device, args.precision)
    opts.cache, opts.feature_store = {}, feature_store(args, model, preprocess)  # never reuse another model's
    res = evaluate_suite(model, tokenizer, suite, preprocess=preprocess, device=device, datasets=datasets, opts=opts)
    if opts.feature_store is not None:
        opts.feature_store.save()
    return info["id"], res


def run_compare(args, suite, datasets, device, opts) -> dict:
    """``--compare A B``: evaluate / load both sides, compare, write ``comparison.json`` and ``comparison.md``."""
    from .compare import compare_markdown, compare_runs

    cfg = opts.bootstrap or BootstrapConfig()
    name_a, res_a = _side(args.compare[0], args, suite, datasets, device, opts)
    name_b, res_b = _side(args.compare[1], args, suite, datasets, device, opts)
    cmp = {**compare_runs(res_a, res_b, cfg, args.alpha), "a": name_a, "b": name_b, "suite": suite.name}
    out = Path(args.out or Path("reports") / f"{suite.name}_compare")
    out.mkdir(parents=True, exist_ok=True)
    (out / "comparison.json").write_text(json.dumps(_plain(cmp), indent=1))
    md = [f"# Head-to-head on suite `{suite.name}`", "", *compare_markdown(cmp, name_a, name_b)]
    (out / "comparison.md").write_text("\n".join(md))
    for r in cmp["datasets"]:
        d = r["bootstrap"]["diff"]
        print(
            f"{r['dataset']:<24} {r['metric']:<18} A {100 * r['bootstrap']['a']:6.2f}  "
            f"B {100 * r['bootstrap']['b']:6.2f}"
            f"  diff {100 * d['estimate']:+.2f} [{100 * d['low']:+.2f}, {100 * d['high']:+.2f}]  "
            f"p_holm {r['p_holm']:.3g}  {r['verdict']}"
        )
    print(f"comparison: {out / 'comparison.md'}")
    return {"json": out / "comparison.json", "markdown": out / "comparison.md"}


def _plain(o):
    """JSON-safe copy (NaN -> None)."""
    import math

    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_plain(v) for v in o]
    return o
