"""``medclip-merge``: run T3 / T3_B and every baseline on a base / expert pair and write the report.

    medclip-merge --base runs/demo/checkpoints/latest.pt --expert runs/merge/expert_xray.pt --suite demo \
        --out reports/merge [--config configs/merge/demo.yaml] [key=value ...]

``--base`` / ``--expert`` take any model spec of the other tools: a medclip checkpoint, an open_clip name with
``--base-pretrained`` / ``--expert-pretrained`` weights (``--model NAME --pretrained PATH`` spell the base),
``hf-hub:<repo>`` or ``local-dir:<folder>``. Merge methods of other packages are found through the
``medclip.merge_methods`` entry-point group and named in ``merge.methods``.

Keys are those of :class:`zeroshot.merging.protocol.ProtocolConfig` (merge settings under ``merge.``, the
coefficient under ``merge.coef.``), e.g. ``merge.coef.gamma=5 corruptions=[jpeg] max_samples=100``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings

from medclip.cli_common import HelpFormatter, add_overrides, overrides_from
from medclip.config import load_config, save_config

from .protocol import ProtocolConfig, run_protocol
from .report import write_report


def list_methods() -> str:
    """One line per registered merge method: name, kind, ``merge.params`` section with defaults, formula."""
    from medclip.config import to_dict
    from medclip.merge.config import MergeConfig
    from medclip.merge.registry import MERGE_METHODS

    MERGE_METHODS.load_plugins()
    cfg, lines = MergeConfig(), []
    for name in MERGE_METHODS.names():
        meta, doc = MERGE_METHODS.meta(name), (MERGE_METHODS.get(name).__doc__ or "").strip().splitlines()
        section = cfg.method_config(name)
        settings = f"params.{meta['section']}: {to_dict(section)}" if section is not None else "-"
        lines.append(f"{name:16s} {meta['kind']:10s} {settings}  {doc[0] if doc else ''}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The ``medclip-merge`` argument parser (model specs, suite, output, config files and overrides)."""
    ap = argparse.ArgumentParser(
        prog="medclip-merge", description=__doc__.splitlines()[0], formatter_class=HelpFormatter
    )
    ap.add_argument(
        "--base",
        "--model",
        dest="base",
        help="base (generalist), required: medclip checkpoint, model name, hf-hub:<repo> or local-dir:<folder>",
    )
    ap.add_argument(
        "--base-pretrained",
        "--pretrained",
        dest="base_pretrained",
        default=None,
        help="weights for a --base model name (file or open_clip tag)",
    )
    ap.add_argument("--expert", help="expert model spec, required (same state-dict keys as the base)")
    ap.add_argument("--expert-pretrained", default=None, help="weights for an --expert model name")
    ap.add_argument("--suite", default=None, help="suite name or YAML (default: from the config, demo)")
    ap.add_argument("--data-root", default=None, help="override the suite's data root")
    ap.add_argument("--out", help="report folder (report.md, report.json, config.yaml), required")
    ap.add_argument("--config", action="append", default=[], help="YAML file(s) of ProtocolConfig keys")
    ap.add_argument("--quiet", action="store_true", help="no per-setting progress lines (the report is printed)")
    ap.add_argument(
        "--list-methods",
        action="store_true",
        help="print every merge method (built-ins and installed plug-ins) with its kind and settings",
    )
    add_overrides(ap, "ProtocolConfig")
    return ap


def run(argv: list[str] | None = None) -> dict:
    """Run the protocol from command-line arguments (callable in-process); returns the report dict."""
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.list_methods:
        print(list_methods())
        return {}
    missing = [f"--{k}" for k in ("base", "expert", "out") if not getattr(args, k)]
    if missing:
        ap.error(f"the following arguments are required: {', '.join(missing)}")
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    try:
        overrides = overrides_from(args, "medclip-merge")
    except ValueError as e:
        ap.exit(2, f"medclip-merge: error: {e}\n")
    if args.suite:
        overrides.insert(0, f"suite={args.suite}")
    if args.data_root:
        overrides.insert(0, f"data_root={args.data_root}")
    try:
        with warnings.catch_warnings(record=True) as notes:  # deprecated config keys: one note each on stderr
            warnings.simplefilter("always", DeprecationWarning)
            cfg = load_config(ProtocolConfig, args.config, overrides)
        for w in notes:
            print(f"medclip-merge: note: {w.message}", file=sys.stderr)
        cfg.validate()
        save_config(cfg, f"{args.out}/config.yaml")
        report = run_protocol(args.base, args.expert, cfg, base_pretrained=args.base_pretrained,
                              expert_pretrained=args.expert_pretrained)  # fmt: skip
    except (ValueError, FileNotFoundError) as e:  # ConfigError, MergeError, missing data / checkpoints
        ap.exit(2, f"medclip-merge: error: {e}\n")
    js, md = write_report(report, args.out)
    print(md.read_text())
    print(json.dumps({"report": str(md), "json": str(js), "wall_s": round(report["wall_s"], 1)}))
    return report


def cli(argv: list[str] | None = None) -> int:
    """Console entry point (``medclip-merge``): exit status 0, or 2 with a one-line error on bad input."""
    run(argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(cli())
