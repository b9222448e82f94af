"""On-disk caption-bank cache: one JSON object a line, keyed by a sha256 of all that shapes a bank."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path


def cache_key(record: dict) -> str:
    """sha256 of a canonical JSON dump of ``record`` (backend, model, prompt, parameters, triple)."""
    return hashlib.sha256(json.dumps(record, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class BankCache:
    """Append-only JSON-lines cache; the last line of a key wins (so ``refresh`` just appends).

    Thread-safe within a process. A corrupt (e.g. half-written) line is skipped on load.

    Args:
        path: Cache file; ``None`` or ``""`` disables caching.
    """

    def __init__(self, path: str | os.PathLike | None):
        self.path = Path(path) if path else None
        self._lock = threading.Lock()
        self._entries: dict[str, dict] = {}
        self.corrupt_lines = 0
        if self.path and self.path.is_file():
            with open(self.path) as f:
                for line in f:
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        entry = json.loads(line)
                        self._entries[entry["key"]] = entry
                    except (json.JSONDecodeError, KeyError, TypeError):
                        self.corrupt_lines += 1

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> dict | None:
        """The cached entry for ``key`` or ``None``."""
        with self._lock:
            return self._entries.get(key)

    def put(self, key: str, entry: dict) -> None:
        """Store ``entry`` (a JSON-serialisable dict) under ``key`` and append it to the file."""
        entry = {"key": key, **entry}
        line = json.dumps(entry, sort_keys=True, ensure_ascii=False)
        with self._lock:
            self._entries[key] = entry
            if self.path:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.path, "a") as f:
                    f.write(line + "\n")
                    f.flush()
