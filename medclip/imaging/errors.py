"""The one error type of medical image decoding."""

from __future__ import annotations


class DecodeError(Exception):
    """An input that cannot be decoded to an image, with a machine-readable ``reason``.

    ``reason`` is one of ``unreadable``, ``zero_size``, ``unsupported``, ``no_pixels`` or ``non_image``
    (the shard builder counts skips by it). ``detail`` never holds a header value: only exception class
    names and names taken from this package's own tables.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail
