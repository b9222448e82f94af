"""Per-source caps and sample weights of a build that combines several sources (``mix:`` section).

    mix:
      chexpert: {cap: 200000}            # at most 200k samples from this source
      roco:     {weight: 1.0}            # sources with a weight are subsampled so that their shares
      pmc_oa:   {weight: 2.0}            #   of the split are proportional to the weights
      quilt:    {cap: 100000, splits: [train, val]}

Applied per split (``splits``, default ``[train]``), after enumeration and before the global shuffle, by a
seeded choice of which items to keep (enumeration order kept), so it is deterministic and the sample keys
of kept items do not change with the caps. ``cap`` is applied first. Then, among the sources that have a
``weight``, the largest selection whose counts are proportional to the weights is kept (a weight can only
remove samples: the builder never repeats an image; to up-weight a source without dropping the others,
build it into its own folder and give the trainer per-folder weights, see docs/data.md). Sources without
a ``weight`` keep every (capped) item. The manifest records, per split and source, what was available,
what was kept, the cap, the weight and the share of the split.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from medclip.config import ConfigError, from_dict


@dataclass
class MixEntry:
    """Mixing settings of one source."""

    cap: int | None = None  # at most this many samples per split
    weight: float | None = None  # share of the split relative to the other weighted sources
    splits: list[str] = field(default_factory=lambda: ["train"])  # splits the cap / weight apply to

    def validate(self) -> None:
        if self.cap is not None and self.cap < 0:
            raise ValueError(f"cap must be >= 0, got {self.cap}")
        if self.weight is not None and not self.weight > 0:
            raise ValueError(f"weight must be > 0, got {self.weight}")


def mix_entries(cfg) -> dict[str, MixEntry]:
    """Typed ``mix`` entries of a BuildConfig; unknown source names are fatal (closest names suggested)."""
    import difflib

    out = {}
    for name, raw in sorted((cfg.mix or {}).items()):
        if name not in cfg.sources:
            close = difflib.get_close_matches(name, list(cfg.sources), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(f"mix.{name}: no source named {name!r}{hint}")
        try:
            out[name] = from_dict(MixEntry, dict(raw or {}), f"mix.{name}")
        except ValueError as e:
            raise ConfigError(str(e) if isinstance(e, ConfigError) else f"mix.{name}: {e}") from None
    return out


def _choose(n: int, k: int, seed: int, name: str, split: str) -> list[int]:
    if k >= n:
        return list(range(n))
    rng = np.random.default_rng([seed, zlib.crc32(name.encode()), zlib.crc32(split.encode()), 0x6D6978])
    return sorted(int(i) for i in rng.choice(n, size=k, replace=False))


def apply_mix(by_split: dict[str, list], entries: dict[str, MixEntry], seed: int) -> tuple[dict, dict]:
    """Apply caps and weights to ``{split: [(key, item), ...]}``.

    Returns:
        ``(new by_split, report)`` with ``report[split][source] = {available, kept, cap, weight, share}``.
    """
    new, report = {}, {}
    for split, pairs in by_split.items():
        per: dict[str, list] = {}
        for kv in pairs:
            per.setdefault(kv[1].source, []).append(kv)
        avail = {s: len(v) for s, v in per.items()}
        keep = dict(avail)
        active = {s: e for s, e in entries.items() if split in e.splits and s in per}
        for s, e in active.items():
            if e.cap is not None:
                keep[s] = min(keep[s], e.cap)
        weighted = {s: e.weight for s, e in active.items() if e.weight is not None}
        if weighted:
            total_w = sum(weighted.values())
            scale = min(keep[s] / (w / total_w) for s, w in weighted.items())
            for s, w in weighted.items():
                keep[s] = min(keep[s], int(scale * w / total_w + 1e-9))
        chosen = {s: set(_choose(avail[s], keep[s], seed, s, split)) for s in per}
        new[split] = [kv for s in per for i, kv in enumerate(per[s]) if i in chosen[s]]
        # original interleaving of sources is irrelevant: the plan shuffles every split globally
        kept_total = sum(keep.values())
        if entries:
            report[split] = {
                s: {
                    "available": avail[s],
                    "kept": keep[s],
                    "cap": entries[s].cap if s in active else None,
                    "weight": entries[s].weight if s in active else None,
                    "share": round(keep[s] / kept_total, 6) if kept_total else 0.0,
                }
                for s in sorted(per)
            }
    return new, report
