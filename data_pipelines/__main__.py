"""``python -m data_pipelines build|verify ...``."""

from .cli import cli

raise SystemExit(cli())
