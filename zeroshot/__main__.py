"""``python -m zeroshot`` = ``medclip-eval``."""

import sys

from .cli import cli

sys.exit(cli())
