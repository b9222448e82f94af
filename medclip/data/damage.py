"""Accounting for damaged shards and skipped samples: nothing read for training is lost without a count.

The shard reader (:func:`medclip.data.tario.iter_tar_samples` with ``report=True``) ends every damaged or
miscounted shard with a *damage marker* ``{"__damage__": ShardDamage}`` in the raw stream; the loader
(:mod:`medclip.data.loader`) moves markers and the reasons of the samples it could not decode into each
micro-batch, and the trainer keeps a :class:`DataHealth` that goes into the log line, every ``metrics.jsonl``
record, the checkpoint and the end-of-run summary. ``medclip-shards verify`` reads shards through the same
reader (:func:`medclip.data.tario.read_shard`), so it names the same shards with the same counts.

Shard damage reasons (:data:`SHARD_REASONS`): ``empty`` (0-byte file), ``not_a_tar`` (no valid tar header at
offset 0, e.g. an HTML error page saved as ``.tar``), ``truncated`` (the file ends inside a header or a
member, or at a block boundary without the end-of-archive blocks; gzip streams that end early), ``corrupt``
(a bad header checksum or undecodable gzip after the start), ``unreadable`` (the file cannot be opened),
``short`` / ``extra`` (read to the end cleanly but holding fewer / more samples than ``sizes.json`` says).

The sample being read when the damage is found is dropped unless a valid header of a *different* sample
followed its members (its members may be incomplete); it is part of the shard's missing count.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

SHARD_REASONS = ("empty", "not_a_tar", "truncated", "corrupt", "unreadable", "short", "extra")
SKIP_REASONS = ("no_caption", "no_image", "bad_json", "undecodable_image")
MARKER = "__damage__"


@dataclass(frozen=True)
class ShardDamage:
    """One damaged or miscounted shard: what was expected and what could be read."""

    shard: str  # the shard URL / path as read
    reason: str  # one of SHARD_REASONS
    read: int  # complete samples read from it
    expected: int | None  # its sizes.json count (None when unknown)
    detail: str = ""  # the reader's message (no sample content)

    @property
    def name(self) -> str:
        """The shard's file name."""
        return self.shard.rstrip("/").rsplit("/", 1)[-1]

    @property
    def missing(self) -> int:
        """Samples sizes.json promises that could not be read (0 when unknown or not short)."""
        return max(0, self.expected - self.read) if self.expected is not None else 0

    def describe(self) -> str:
        """One line: ``name: reason (detail): R of E samples read``."""
        detail = f" ({self.detail})" if self.detail and self.detail != self.reason else ""
        of = f" of {self.expected}" if self.expected is not None else ""
        return f"{self.name}: {self.reason}{detail}: {self.read}{of} samples read"


def skip_reason(exc: BaseException) -> str:
    """The :data:`SKIP_REASONS` entry of an exception raised while decoding one sample."""
    msg = str(exc)
    if isinstance(exc, ValueError) and msg.endswith("no caption"):
        return "no_caption"
    if isinstance(exc, ValueError) and msg.endswith("no image member"):
        return "no_image"
    if isinstance(exc, (UnicodeDecodeError,)) or "json" in msg.lower() or type(exc).__name__ == "JSONDecodeError":
        return "bad_json"
    return "undecodable_image"


@dataclass
class DataHealth:
    """Running totals of damage seen by a reader (one rank, or every rank after :meth:`merge`)."""

    shards: dict[str, ShardDamage] = field(default_factory=dict)  # by shard URL (a re-read is not re-counted)
    skipped: Counter = field(default_factory=Counter)  # skip reason -> samples skipped (every occurrence)
    first_skip: str = ""  # "shard/key: reason" of the first skipped sample (for data.strict)

    def add_shard(self, d: ShardDamage) -> None:
        self.shards.setdefault(d.shard, d)

    def add_skips(self, reasons: dict[str, int], first: str = "") -> None:
        self.skipped.update({k: int(v) for k, v in reasons.items() if v})
        self.first_skip = self.first_skip or first

    def merge(self, other: DataHealth) -> None:
        for d in other.shards.values():
            self.add_shard(d)
        self.add_skips(other.skipped, other.first_skip)

    @property
    def samples_skipped(self) -> int:
        return int(sum(self.skipped.values()))

    @property
    def samples_missing(self) -> int:
        return int(sum(d.missing for d in self.shards.values()))

    def fields(self) -> dict:
        """The ``metrics.jsonl`` / summary fields (``data/...``)."""
        out = {
            "data/shards_damaged": len(self.shards),
            "data/samples_missing": self.samples_missing,
            "data/samples_skipped": self.samples_skipped,
            "data/damaged_shards": sorted(d.name for d in self.shards.values()),
        }
        for r in SKIP_REASONS:
            out[f"data/skipped/{r}"] = int(self.skipped.get(r, 0))
        return out

    def line(self, limit: int | None = 5) -> str:
        """A short human summary: ``N damaged shard(s) [...], M missing, K skipped (...)``.

        Args:
            limit: name at most this many shards (None: all, as the end-of-run summary does).
        """
        ds = sorted(self.shards.values(), key=lambda d: d.name)
        shown = ds if limit is None else ds[:limit]
        shards = "; ".join(d.describe() for d in shown)
        more = f"; +{len(ds) - len(shown)} more" if len(ds) > len(shown) else ""
        why = ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items()) if v)
        return (
            f"{len(self.shards)} damaged shard(s)" + (f" [{shards}{more}]" if shards else "")
            + f", {self.samples_missing} sample(s) missing vs sizes.json"
            + f", {self.samples_skipped} sample(s) skipped" + (f" ({why})" if why else "")
        )  # fmt: skip

    def state_dict(self) -> dict:
        return {"shards": [asdict(d) for d in self.shards.values()], "skipped": dict(self.skipped),
                "first_skip": self.first_skip}  # fmt: skip

    @classmethod
    def from_state_dict(cls, state: dict | None) -> DataHealth:
        h = cls()
        for d in (state or {}).get("shards", []):
            h.add_shard(ShardDamage(**d))
        h.add_skips((state or {}).get("skipped", {}), (state or {}).get("first_skip", ""))
        return h
