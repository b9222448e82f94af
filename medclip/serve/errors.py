"""One error type for every refused request: an HTTP status, a short code and a one-line message."""

from __future__ import annotations


class ApiError(Exception):
    """A client error answered as ``{"error": {"code": ..., "message": ...}}`` with ``status``.

    Messages never echo header values of an upload (DICOM tags) or file-system details.
    """

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = " ".join(str(message).split())  # one line
