"""``medclip-fewshot``: few-shot protocol runs (prompt learners and adapters) with reports.

    medclip-fewshot --method biomedcoop --suite demo --shots 1 2 4 8 16 --seeds 1 2 3 \
        --model runs/demo/checkpoints/latest.pt --out reports/fewshot [--base-to-novel]

``--method`` takes several names (or ``all``, cheapest first; ``--list-methods`` shows them); each method's
settings are ``configs/fewshot/<method>.yaml``, then its section of the ``--preset`` overlay
(``configs/fewshot/presets/<preset>.yaml``), then positional ``key=value`` overrides (applied to every method;
``--set key=value`` is still accepted, deprecated). ``--plugin MODULE`` imports a module that registers
more methods (docs/fewshot.md).
``--make-bank PATH`` writes a prompt bank for the suite's classes from the caption converter and exits.
"""

from __future__ import annotations

import argparse
import logging
import platform
import shlex
import sys
import time
from pathlib import Path

import torch

from medclip.cli_common import HelpFormatter, add_overrides, cli_device, overrides_from
from medclip.resources import config_dir

CONFIG_DIR = config_dir("fewshot")  # shipped with the package (medclip_configs/fewshot)
PLUGIN_GROUP = "medclip.fewshot_methods"  # entry-point group of installed method plug-ins


def load_plugins(modules: list[str] | None = None) -> None:
    """Register the built-in methods, installed plug-ins (entry points of :data:`PLUGIN_GROUP`) and ``modules``.

    A plug-in is a module that registers methods with ``@register_method`` when imported (docs/fewshot.md).
    """
    import importlib
    from importlib.metadata import entry_points

    import medclip.fewshot.methods  # noqa: F401

    for ep in entry_points(group=PLUGIN_GROUP):
        ep.load()
    for name in modules or []:
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise SystemExit(f"medclip-fewshot: cannot import plug-in {name!r}: {e}") from None


def method_names(*, base_to_novel: bool | None = None) -> list[str]:
    """Registered methods, cheapest first (``--method all``); only base-to-novel ones if asked."""
    from medclip.fewshot.registry import cheapest_first, method_meta

    names = cheapest_first()
    if base_to_novel is not None:
        names = [m for m in names if method_meta(m)["base_to_novel"] == base_to_novel]
    return names


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="medclip-fewshot", description=__doc__.split("\n")[0], formatter_class=HelpFormatter
    )
    p.add_argument("--method", nargs="+", default=["coop"], help="methods or 'all' (see --list-methods)")
    p.add_argument("--list-methods", action="store_true", help="list the registered methods and exit")
    p.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help=f"import MODULE first (it registers methods); installed plug-ins of entry-point group {PLUGIN_GROUP} "
        "load by themselves",
    )
    p.add_argument("--suite", default="demo", help="suite name or YAML path")
    p.add_argument("--dataset", nargs="*", default=None, help="suite datasets (default: every usable one)")
    p.add_argument("--data-root", default=None, help="override the suite's data root")
    p.add_argument(
        "--model",
        help="a medclip checkpoint (.pt), or any open_clip model spec: a name (medclip-small, ViT-B-16), "
        "hf-hub:ORG/REPO or local-dir:PATH (required except with --make-bank / --list-methods)",
    )
    p.add_argument("--pretrained", default=None, help="weights for a model name (a file or an open_clip tag)")
    p.add_argument("--shots", nargs="+", type=int, default=[1, 2, 4, 8, 16], help="K images per class")
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3], help="few-shot subset seeds")
    p.add_argument("--base-to-novel", action="store_true", help="run the base-to-novel protocol instead")
    p.add_argument("--b2n-shots", type=int, default=16, help="K of the base-to-novel protocol")
    p.add_argument(
        "--preset",
        default=None,
        help="overlay on each method's defaults: demo, original, biomedcoop (configs/fewshot/presets/) or a YAML path",
    )
    p.add_argument("--config", default=None, help="explicit method YAML (single method)")
    add_overrides(p, "method config (applied to every method)")
    p.add_argument("--bank", default=None, help="prompt bank JSON (class -> descriptions)")
    p.add_argument("--make-bank", default=None, metavar="PATH", help="write a bank from the caption converter")
    p.add_argument("--bank-size", type=int, default=50, help="descriptions per class of --make-bank")
    p.add_argument("--std-ddof", type=int, default=0, help="ddof of the standard deviation over seeds")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--out", default="reports/fewshot", help="report folder")
    p.add_argument("--quiet", action="store_true", help="no progress lines (the report is still printed)")
    return p.parse_args(argv)


def method_config(method: str, preset: str | None, path: str | None, overrides: list[str]):
    """The typed config of one method and the files it came from.

    Without ``path``: ``configs/fewshot/<method>.yaml`` ← section ``method`` of ``presets/<preset>.yaml`` ←
    ``overrides`` (:func:`medclip.fewshot.presets.resolve`). With ``path``: that YAML file ← ``overrides``.
    """
    from medclip.config import load_config
    from medclip.fewshot.config import config_class
    from medclip.fewshot.presets import resolve

    if path is None:
        return resolve(method, preset, overrides)
    cfg = load_config(config_class(), path, overrides)
    if cfg.method != method:
        raise SystemExit(f"medclip-fewshot: {path} is for method {cfg.method!r}, not {method!r}")
    return cfg, str(path)


def list_methods() -> str:
    """One line per registered method (cheapest first) with what it needs."""
    from medclip.fewshot.registry import method_meta

    rows = []
    for m in method_names():
        meta = method_meta(m)
        flags = [k for k in ("uses_bank", "uses_prior", "base_to_novel", "prompt_learner") if meta[k]]
        rows.append(f"{m:<14} cost={meta['cost']:<4} test_cost={meta['test_cost']:<9} {' '.join(flags)}".rstrip())
    return "\n".join(rows)


def cli(argv=None) -> int:
    """Entry point; returns 0 on success (callable in-process). Bad input exits with a one-line message."""
    from medclip.config import ConfigError

    try:
        return _main(argv)
    except (ConfigError, ValueError, FileNotFoundError) as e:
        raise SystemExit(f"medclip-fewshot: {e}") from e


def _main(argv=None) -> int:
    args = parse_args(argv)
    args.set = overrides_from(args, "medclip-fewshot")
    args.device = cli_device(args.device)
    load_plugins(args.plugin)
    if args.list_methods:
        print(list_methods())
        return 0
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    from ..suites import load_suite, select

    methods = _methods(args)
    suite = load_suite(args.suite, args.data_root)
    datasets = [d for d in select(suite, args.dataset) if args.dataset or (d.probe_train and d.probe_val)]
    if not datasets:
        raise SystemExit(f"medclip-fewshot: suite {suite.name!r} has no dataset with probe_train/probe_val")
    if args.make_bank:
        return _make_bank(args, suite, datasets)
    if args.config and len(methods) != 1:
        raise SystemExit("medclip-fewshot: --config needs exactly one --method")
    cfgs = {m: method_config(m, args.preset, args.config, args.set) for m in methods}
    return _run(args, argv, suite, datasets, cfgs)


def _methods(args) -> list[str]:
    """The ``--method`` names (``all``: every registered one, cheapest first), checked against the registry."""
    from medclip.fewshot.registry import METHODS, method_meta

    methods = method_names() if args.method == ["all"] else list(dict.fromkeys(args.method))
    for m in methods:
        METHODS.get(m)  # unknown names: one line with the closest registered ones
    if args.base_to_novel:
        bad = [m for m in methods if not method_meta(m)["base_to_novel"]]
        if bad:
            raise SystemExit(f"medclip-fewshot: {', '.join(bad)} cannot classify unseen classes (no base-to-novel)")
    return methods


def _make_bank(args, suite, datasets) -> int:
    """``--make-bank PATH``: a prompt bank for the suite's classes from the caption converter."""
    from .bank import make_bank, save_bank

    bank = {}
    for d in datasets:
        bank.update(make_bank(d, args.bank_size))
    save_bank(bank, args.make_bank, f"data_pipelines.captions (knowledge backend), suite {suite.name}")
    print(f"wrote {args.make_bank}: {len(bank)} classes x {args.bank_size} descriptions")
    return 0


def _run(args, argv, suite, datasets, cfgs: dict) -> int:
    """Every method on every dataset, with a partial report after each method."""
    from medclip.config import to_dict
    from medclip.fewshot.bank import bank_hash, load_bank
    from medclip.fewshot.registry import method_meta
    from medclip.models.load import load_model

    from .data import load_fewshot_data
    from .features import FeatureStore
    from .report import write_report
    from .runner import FewShotRunner

    bank_path = args.bank or (CONFIG_DIR / "banks" / f"{suite.name}.json")
    bank = load_bank(bank_path) if any(method_meta(m)["uses_bank"] for m in cfgs) else None
    if not args.model:
        raise SystemExit("medclip-fewshot: --model is required (a checkpoint path or an open_clip model spec)")
    model, preprocess, tokenizer, model_info = load_model(args.model, args.pretrained, device=str(args.device))
    t_start, records = time.perf_counter(), []

    def meta() -> dict:
        return {
            "command": "medclip-fewshot "
            + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])),
            "suite": suite.name,
            "datasets": [d.name for d in datasets],
            "model": args.model,
            "model_info": model_info,
            "shots": sorted(args.shots),
            "seeds": args.seeds,
            "base_to_novel": args.base_to_novel,
            "configs": {m: {"path": p, "resolved": to_dict(c)} for m, (c, p) in cfgs.items()},
            "bank": {"path": str(bank_path), "sha256": bank_hash(bank)} if bank else None,
            "seconds": round(time.perf_counter() - t_start, 1),
            "versions": {"python": platform.python_version(), "torch": torch.__version__},
        }

    out = Path(args.out)
    for d in datasets:
        data = load_fewshot_data(suite, d)
        store = FeatureStore(model, preprocess, device=args.device)
        report_progress = (lambda *a, **k: None) if args.quiet else print
        runner = FewShotRunner(
            model, tokenizer, store, data, bank=bank, cache_dir=out / "subsets", progress=report_progress
        )
        for cfg, _ in cfgs.values():
            if args.base_to_novel:
                records += runner.run_base_to_novel(cfg, args.b2n_shots, args.seeds)
            else:
                records += runner.run_fewshot(cfg, sorted(args.shots), args.seeds)
            write_report(out, records, meta(), ddof=args.std_ddof)  # partial report after every method
        print(f"{d.name}: encoded {store.encoded_images} images")
    write_report(out, records, meta(), ddof=args.std_ddof)
    print(f"wrote {out / 'fewshot.json'}, {out / 'fewshot.md'}")
    print((out / "fewshot.md").read_text())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(cli())
