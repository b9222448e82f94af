"""``python -m zeroshot.fewshot`` = ``medclip-fewshot``."""

import sys

from .cli import cli

sys.exit(cli())
