"""``python -m zeroshot.merging`` == ``medclip-merge``."""

from .cli import cli

cli()
