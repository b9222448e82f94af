"""``python -m data_pipelines.captions``: preview caption banks and check eval-prompt overlap.

    python -m data_pipelines.captions preview --modality xray --anatomy chest --labels pneumonia \
        backend=openai model=llama3.1:8b base_url=http://127.0.0.1:11434/v1 cache=data/caption_cache.jsonl
    python -m data_pipelines.captions overlap --eval-prompts prompts.txt --modality xray --anatomy chest \
        --labels normal --labels pneumonia
    python -m data_pipelines.captions overlap --heldout --modality xray --anatomy chest --labels pneumonia
"""

from __future__ import annotations

import argparse
import json
import sys

from medclip.cli_common import HelpFormatter, add_overrides, overrides_from
from medclip.config import ConfigError, load_config

from .bank import LabelError
from .config import CaptionConfig
from .converter import CaptionConverter
from .heldout import heldout_bank
from .overlap import prompt_overlap


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    p = argparse.ArgumentParser(
        prog="python -m data_pipelines.captions", description=__doc__.splitlines()[0], formatter_class=HelpFormatter
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("preview", "overlap"):
        s = sub.add_parser(name, formatter_class=HelpFormatter)
        s.add_argument("--config", help="YAML file with CaptionConfig keys")
        add_overrides(s, "CaptionConfig")
        s.add_argument("--modality", required=True, help="modality of the labels, e.g. xray (required)")
        s.add_argument("--anatomy", default="", help="anatomy, e.g. chest")
        s.add_argument("--labels", action="append", required=True, help="comma-separated label set; repeat for several")
        s.add_argument("--heldout", action="store_true", help="use the held-out eval bank (eval_prompt, eval_seed)")
        if name == "overlap":
            s.add_argument("--eval-prompts", help="text file, one filled eval prompt a line (or --heldout)")
    a = p.parse_args(argv)
    label_sets = [[x.strip() for x in labs.split(",")] for labs in a.labels]
    try:
        if a.cmd == "overlap" and not (a.eval_prompts or a.heldout):
            raise ConfigError("overlap needs --eval-prompts FILE or --heldout")
        cfg = load_config(CaptionConfig, a.config, overrides_from(a, "python -m data_pipelines.captions"))
        conv = CaptionConverter(cfg.heldout() if a.cmd == "preview" and a.heldout else cfg)
        banks = [conv.bank(a.modality, a.anatomy, labs) for labs in label_sets]
        if a.cmd == "overlap" and a.heldout:
            triples = [(a.modality, a.anatomy, labs) for labs in label_sets]
            doc = heldout_bank(cfg, triples, {str(i): b.captions for i, b in enumerate(banks)}, ids=[
                str(i) for i in range(len(banks))])  # fmt: skip
    except (ConfigError, LabelError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.cmd == "preview":
        for b in banks:
            note = f" (fallback: {b.fallback_reason})" if b.fallback else ""
            print(
                f"# {b.modality} / {b.anatomy} / {', '.join(b.labels)}  backend={b.backend}{note}  id={b.bank_id[:12]}"
            )
            print("\n".join(f"  {c}" for c in b.captions))
        print(json.dumps(conv.stats(), indent=1))
    elif a.heldout:
        for i, b in enumerate(banks):
            print(f"# held-out: {b.modality} / {b.anatomy} / {', '.join(b.labels)}")
            print("\n".join(f"  {c}" for c in doc["classes"][str(i)]["captions"]))
        print(json.dumps(doc["overlap"], indent=1))
    else:
        with open(a.eval_prompts) as f:
            prompts = [line.strip() for line in f if line.strip()]
        print(json.dumps(prompt_overlap(prompts, [c for b in banks for c in b.captions]), indent=1))
    return 0


def cli(argv: list[str] | None = None) -> None:
    """Console entry point."""
    raise SystemExit(main(argv))
