"""A minimal deterministic USTAR writer for webdataset shards (no webdataset/torch import in the build path).

The bytes equal what ``webdataset.TarWriter(user=..., group=..., mode=..., mtime=0)`` with
``tarfile.USTAR_FORMAT`` writes: members of a sample in sorted extension order, uid/gid 0, fixed owner and
mode, mtime 0, and the archive closed with two zero blocks padded to a 10240-byte record. Headers are
built from a template (only name, size and checksum change), and the sha256 of the file is computed while
writing, so the shard needs no second read.
"""

from __future__ import annotations

import hashlib
import tarfile

BLOCK, RECORD = 512, 20 * 512


class TarWriter:
    """Write webdataset samples (``{"__key__": key, ext: bytes, ...}``) to a binary file object."""

    def __init__(self, fileobj, *, user: str = "medclip", group: str = "medclip", mode: int = 0o444) -> None:
        self.f = fileobj
        self.user, self.group, self.mode = user, group, mode
        self.sha = hashlib.sha256()
        self.offset = 0
        info = tarfile.TarInfo("x")
        info.mode, info.uname, info.gname, info.mtime, info.size = mode, user, group, 0, 0
        tmpl = bytearray(info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "surrogateescape"))
        tmpl[0:100] = bytes(100)
        tmpl[124:136] = bytes(12)
        tmpl[148:156] = b" " * 8
        self._tmpl = bytes(tmpl)
        self._base_sum = sum(self._tmpl)

    def _put(self, data: bytes) -> None:
        self.f.write(data)
        self.sha.update(data)
        self.offset += len(data)

    def _header(self, name: str, size: int) -> bytes:
        raw = name.encode("utf-8")
        if len(raw) > 100 or not raw.isascii():  # long / non-ASCII names: let tarfile split them
            info = tarfile.TarInfo(name)
            info.mode, info.uname, info.gname, info.mtime, info.size = self.mode, self.user, self.group, 0, size
            return info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "surrogateescape")
        size_field = b"%011o\0" % size
        chk = self._base_sum + sum(raw) + sum(size_field)
        h = bytearray(self._tmpl)
        h[0 : len(raw)] = raw
        h[124:136] = size_field
        h[148:156] = b"%06o\0 " % chk
        return bytes(h)

    def write(self, sample: dict) -> int:
        """Append one sample; returns the bytes of member data written (without headers)."""
        key = sample["__key__"]
        total = 0
        for ext in sorted(k for k in sample if not k.startswith("_")):
            data = sample[ext]
            if isinstance(data, str):
                data = data.encode("utf-8")
            self._put(self._header(f"{key}.{ext}", len(data)))
            self._put(bytes(data))
            pad = -len(data) % BLOCK
            if pad:
                self._put(bytes(pad))
            total += len(data)
        return total

    def close(self) -> str:
        """Write the end-of-archive blocks and record padding; return the archive's sha256 hex digest."""
        self._put(bytes(2 * BLOCK))
        pad = -self.offset % RECORD
        if pad:
            self._put(bytes(pad))
        return self.sha.hexdigest()
