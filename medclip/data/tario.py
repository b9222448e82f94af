"""Reading samples out of a WebDataset tar stream (members grouped by key, in file order)."""

from __future__ import annotations

import tarfile
from collections.abc import Iterator

from .urls import open_url


def split_member(name: str) -> tuple[str, str]:
    """``dir/key.ext`` -> (``dir/key``, ``ext``); the key ends at the first dot of the base name (wds rule)."""
    slash = name.rfind("/")
    dot = name.find(".", slash + 1)
    if dot < 0:
        return name, ""
    return name[:dot], name[dot + 1 :].lower()


def iter_tar_samples(url: str, *, handle_errors: bool = True) -> Iterator[dict]:
    """Yield ``{"__key__", "__url__", ext: bytes ...}`` per sample of one shard.

    A truncated or unreadable shard ends early (what was read is kept) when ``handle_errors``; with it off
    the error propagates.
    """
    current: dict | None = None
    with open_url(url) as f:
        try:
            with tarfile.open(fileobj=f, mode="r|*") as tar:
                for member in tar:
                    if not member.isfile():
                        continue
                    key, ext = split_member(member.name)
                    if key.rsplit("/", 1)[-1].startswith("__") or not ext:
                        continue
                    data = tar.extractfile(member).read()
                    if current is None or current["__key__"] != key:
                        if current is not None:
                            yield current
                        current = {"__key__": key, "__url__": url}
                    current[ext] = data
        except (tarfile.TarError, OSError, EOFError):
            if not handle_errors:
                raise
    if current is not None:
        yield current
