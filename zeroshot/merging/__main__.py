"""``python -m zeroshot.merging`` == ``medclip-merge``."""

from .cli import cli

raise SystemExit(cli())
