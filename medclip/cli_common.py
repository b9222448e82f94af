"""Conventions shared by every medclip command line: help with defaults, ``--device``, overrides, ``--quiet``.

- Help: :class:`HelpFormatter` appends ``(default: X)`` to every option whose help does not state one.
- Overrides: positional ``key.sub=value`` items everywhere; ``--set key=value`` is still accepted with a
  deprecation note (:func:`add_overrides`, :func:`overrides_from`).
- ``--device``: :func:`cli_device` turns a request for a missing GPU into a one-line ``ValueError``.
"""

from __future__ import annotations

import argparse
import sys


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps descriptions as written and appends each option's default unless its help already gives one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default is argparse.SUPPRESS or "default" in text or "required" in text:
            return text
        if not action.option_strings and action.nargs in ("*", "?"):
            return f"{text} (default: none)"
        if not action.option_strings:
            subcommand = isinstance(action, argparse._SubParsersAction._ChoicesPseudoAction)
            return text if subcommand or action.nargs == argparse.PARSER else f"{text} (required)"
        if isinstance(action, argparse._StoreTrueAction):
            return f"{text} (default: off)"
        default = "none" if action.default in (None, []) else action.default
        if isinstance(default, list | tuple):
            default = " ".join(map(str, default))
        return f"{text} (default: {default})"


def add_overrides(parser: argparse.ArgumentParser, what: str = "config") -> None:
    """Positional ``key=value`` overrides plus the deprecated ``--set key=value`` spelling."""
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help=f"{what} overrides, e.g. seed=1 (place them before options that take several values, or after --)",
    )
    parser.add_argument(
        "--set",
        dest="set_overrides",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="deprecated spelling of positional key=value overrides (default: none)",
    )


def overrides_from(args: argparse.Namespace, prog: str) -> list[str]:
    """The overrides of ``args`` (positional first, then ``--set`` ones with a deprecation note on stderr).

    Raises:
        ConfigError: an item lacks ``=`` (a ValueError, like every config error).
    """
    from .config import ConfigError

    items = list(getattr(args, "overrides", None) or [])
    deprecated = list(getattr(args, "set_overrides", None) or [])
    if deprecated:
        print(
            f"{prog}: note: --set is deprecated; pass overrides as positional key=value items ({' '.join(deprecated)})",
            file=sys.stderr,
        )
    for item in items + deprecated:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not key=value")
    return items + deprecated


def cli_device(requested: str | None, flag: str = "--device"):
    """A usable ``torch.device`` for ``requested`` (None = cuda when available, else cpu).

    Raises:
        ValueError: one line, when the string is not a device or names a GPU this machine lacks.
    """
    import torch

    if requested is None or requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(requested)
    except (RuntimeError, ValueError):
        raise ValueError(f"{flag} {requested!r} is not a device (use cpu, cuda or cuda:N)") from None
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise ValueError(f"{flag} {requested}: no CUDA GPU is available on this machine (use {flag} cpu)")
        if dev.index is not None and dev.index >= n:
            raise ValueError(f"{flag} {requested}: only {n} CUDA GPU(s) are visible (cuda:0..cuda:{n - 1})")
    elif dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ValueError(f"{flag} {requested}: MPS is not available on this machine (use {flag} cpu)")
    return dev
