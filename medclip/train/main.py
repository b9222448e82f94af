"""Command line of the trainer: ``torchrun train.py --config configs/train/demo.yaml [--resume auto] [k=v ...]``.

``main(argv)`` is callable in-process (tests drive it); it returns the process exit code. User errors
(config typos, missing or empty shard folders, unknown model / loss / evaluator names, bad shards,
diverging runs) print one ``error: ...`` line on stderr and return 2 — no traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys

from ..cli_common import HelpFormatter, add_overrides, overrides_from
from ..config import ConfigError, load_config
from ..data.errors import DataError
from .config import TrainConfig
from .setup import TrainError


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="medclip-train", description="Contrastive image-text training (medclip).", formatter_class=HelpFormatter
    )
    p.add_argument("--config", action="append", default=[], help="YAML config (repeatable; later wins)")
    p.add_argument("--resume", default=None, help="'auto' (latest checkpoint of run_dir, if any), a path, or none")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    add_overrides(p, "dotted TrainConfig")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, load the config and train; returns 0 on success, 2 on a user error."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(TrainConfig, args.config, overrides_from(args, "medclip-train"))
        if args.print_config:
            import yaml

            from ..config import to_dict

            print(yaml.safe_dump(to_dict(cfg), sort_keys=False))
            return 0
        from .trainer import train

        train(cfg, resume=args.resume)
    except (ConfigError, DataError, TrainError) as e:
        print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr, flush=True)
        return 2
    return 0


def cli(argv: list[str] | None = None) -> None:
    """Console-script entry (``medclip-train``)."""
    sys.exit(main(argv))
