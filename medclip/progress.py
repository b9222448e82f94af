"""Progress for long CLI runs: a tqdm bar on a terminal, one line per stage in logs, nothing with ``--quiet``.

Every line goes to stderr, so stdout keeps only results::

    progress = Progress("medclip-eval", quiet=args.quiet)
    for ds in progress.iter(datasets, "datasets", label=lambda d: d.name):
        ...
    progress.stage("linear probe demo: fitting")
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO


class Progress:
    """Stage lines / bars of one command.

    Args:
        prog: the command name that prefixes each line.
        quiet: print nothing.
        stream: where to write (default ``sys.stderr``); a bar is used only if it is a terminal.
    """

    def __init__(self, prog: str, *, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.prog = prog
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.t0 = time.perf_counter()

    @property
    def tty(self) -> bool:
        """Whether the stream is an interactive terminal."""
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def stage(self, message: str) -> None:
        """One line ``prog [elapsed] message`` (skipped when quiet)."""
        if not self.quiet:
            print(f"{self.prog} [{time.perf_counter() - self.t0:6.1f}s] {message}", file=self.stream, flush=True)

    def iter(self, items: Iterable[Any], desc: str, *, label: Callable[[Any], str] = str) -> Iterator[Any]:
        """Yield ``items``: a tqdm bar on a terminal, else a ``desc i/n: label`` line before each item."""
        items = list(items)
        if self.quiet:
            yield from items
            return
        if self.tty:
            from tqdm import tqdm

            with tqdm(items, desc=f"{self.prog} {desc}", file=self.stream, leave=False, disable=False) as bar:
                for item in bar:
                    bar.set_postfix_str(label(item))
                    yield item
            return
        for i, item in enumerate(items, 1):
            self.stage(f"{desc} {i}/{len(items)}: {label(item)}")
            yield item
