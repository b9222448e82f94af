"""Shard URLs: local folders and files, brace patterns, and remote URLs through fsspec.

A source spec is one of: a folder (every ``*.tar``, ``*.tar.gz`` and ``*.tgz`` in it, sorted by name), a
file, a brace pattern (``/data/train-{000000..000123}.tar``), several of those joined by ``::``, or a remote URL
(``http(s)://``, ``s3://``, ``gs://``, ``hf://`` ...) read through fsspec (``hf://`` also through
``huggingface_hub`` if installed). Sample counts come from the ``sizes.json`` next to the shards.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import braceexpand

from .errors import DataError

SHARD_SUFFIXES = (".tar", ".tar.gz", ".tgz")


def folder_shards(path: Path) -> list[str]:
    """Every shard file (``*.tar``, ``*.tar.gz``, ``*.tgz``) directly in ``path``, sorted by name.

    Args:
        path: A local folder.

    Returns:
        The shard paths as strings, sorted by file name (deterministic across machines).
    """
    found = [p for p in path.iterdir() if p.name.endswith(SHARD_SUFFIXES) and p.is_file()]
    return [str(p) for p in sorted(found, key=lambda p: p.name)]


def is_remote(url: str) -> bool:
    """True for ``scheme://`` URLs other than ``file://``."""
    return "://" in url and not url.startswith("file://")


def _local(url: str) -> str:
    return url[len("file://") :] if url.startswith("file://") else url


def expand_urls(spec: str | list[str]) -> list[str]:
    """Expand a source spec into the list of shard URLs (raises DataError on missing/empty paths)."""
    parts = list(spec) if isinstance(spec, (list, tuple)) else str(spec).split("::")
    urls: list[str] = []
    for part in parts:
        part = part.strip()
        if not part:
            continue
        for url in braceexpand.braceexpand(part):
            if is_remote(url):
                urls.append(url)
                continue
            path = Path(_local(url))
            if path.is_dir():
                tars = folder_shards(path)
                if not tars:
                    raise DataError(
                        f"empty shard folder: {path} has no *.tar, *.tar.gz or *.tgz shards "
                        "(build them with make shards)"
                    )
                urls.extend(tars)
            elif path.is_file():
                urls.append(str(path))
            else:
                raise DataError(f"shard path not found: {path}")
    if not urls:
        raise DataError(f"no shards in {spec!r}")
    return urls


def open_url(url: str):
    """Open a shard for streaming reads (binary file object)."""
    if not is_remote(url):
        try:
            return open(_local(url), "rb")
        except FileNotFoundError:
            raise DataError(f"shard not found: {url}") from None
    import fsspec

    try:
        return fsspec.open(url, "rb", block_size=1 << 20).open()
    except FileNotFoundError:
        raise DataError(f"shard not found: {url}") from None
    except ImportError as e:
        raise DataError(f"cannot open {url}: {e} (install the fsspec backend for this scheme)") from None


def _read_text(url: str) -> str | None:
    try:
        if not is_remote(url):
            return Path(_local(url)).read_text() if os.path.isfile(_local(url)) else None
        import fsspec

        with fsspec.open(url, "r") as f:
            return f.read()
    except (FileNotFoundError, OSError):
        return None


def shard_sizes(urls: list[str]) -> dict[str, int]:
    """Sample counts per shard URL from the ``sizes.json`` files next to the shards (missing -> absent)."""
    out: dict[str, int] = {}
    cache: dict[str, dict | None] = {}
    for url in urls:
        folder, name = url.rsplit("/", 1) if "/" in url else (".", url)
        if folder not in cache:
            text = _read_text(f"{folder}/sizes.json")
            try:
                cache[folder] = json.loads(text) if text else None
            except json.JSONDecodeError:
                raise DataError(f"{folder}/sizes.json is not valid JSON") from None
        sizes = cache[folder]
        if sizes and name in sizes:
            out[url] = int(sizes[name])
    return out
