"""Streaming WebDataset-format loader for medclip shards (DESIGN §3), shard URL handling and checks.

The heavy pieces (PIL, fsspec) are imported by the submodules, never by ``import medclip``.
"""

from .errors import DataError

__all__ = ["DataError"]
