"""Build planning: enumerate sources, assign keys, attach caption banks, shuffle globally, cut chunks.

Everything here runs in the main process and is deterministic for a given config: the plan (which key
goes into which chunk) depends only on the sources' enumeration order, the seed and ``shards.max_samples``.
"""

from __future__ import annotations

import hashlib
import zlib
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from .config import BuildConfig
from .sources import Item, Skip, build_source
from .sources.pairs_text import pair_text_of
from .writer import Caption

SPLIT_ORDER = ("train", "val", "test", "test_shifted")


def split_sort_key(split: str) -> tuple:
    """Canonical split order: train, val, test, test_shifted, then the rest alphabetically."""
    return (SPLIT_ORDER.index(split), "") if split in SPLIT_ORDER else (len(SPLIT_ORDER), split)


def triple_id(modality: str, anatomy: str, labels: tuple[str, ...]) -> str:
    """String id of a (modality, anatomy, labels) triple (labels in record order)."""
    return f"{modality}|{anatomy}|{'+'.join(labels)}"


@dataclass
class Plan:
    """The planned build: chunks per split, caption banks, enumeration-time skips."""

    config_hash: str
    chunks: dict[str, list[list[tuple[str, Item, str]]]] = field(default_factory=dict)
    captions: dict[str, Caption] = field(default_factory=dict)
    skips: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    caption_stats: dict = field(default_factory=dict)
    bank_ids: dict[str, dict] = field(default_factory=dict)
    heldout: dict | None = None  # the held-out eval bank document (captions.eval_bank)
    mixing: dict = field(default_factory=dict)  # split -> source -> caps / weights applied (mix:)

    def chunk_hash(self, split: str, index: int) -> str:
        """Identity of one chunk: config hash + split + index + its keys."""
        keys = ",".join(k for k, _, _ in self.chunks[split][index])
        return hashlib.sha256(f"{self.config_hash}|{split}|{index}|{keys}".encode()).hexdigest()


def make_sources(cfg: BuildConfig) -> dict:
    """Instantiate every enabled source."""
    return {n: build_source(n, t, c, seed=cfg.seed) for n, (t, c) in cfg.source_configs().items()}


def caption_converter(cfg: BuildConfig, *, refresh: bool = False):
    """The caption converter of the build (imported lazily: the captions package is optional here)."""
    from .captions import CaptionConverter

    ccfg = cfg.caption_config()
    if refresh:
        ccfg.refresh = True
    return CaptionConverter(ccfg)


def _enumerate(sources: dict, wanted: set | None, plan: Plan) -> dict[str, list[tuple[str, Item]]]:
    """``{split: [(key, item)]}`` over the sources (keys ``<source>-<index>``); skips go to ``plan.skips``."""
    by_split: dict[str, list[tuple[str, Item]]] = defaultdict(list)
    for name, src in sources.items():
        idx = 0
        for it in src.items():
            if isinstance(it, Skip):
                plan.skips[it.split or "train"].append(it.__dict__)
                continue
            key = f"{name}-{idx:09d}"
            idx += 1
            if wanted is None or it.split in wanted:
                by_split[it.split].append((key, it))
    return by_split


def _caption_banks(conv, by_split: dict, plan: Plan) -> tuple[list[tuple], set[str]]:
    """One caption bank per labelled (modality, anatomy, labels) triple into ``plan.captions`` / ``plan.bank_ids``;
    returns the triples and the ids of those left with nothing to caption."""
    from .captions import LabelError

    # items with their own text (pair sources) and no labels need no caption bank
    triples = sorted(
        {(it.modality, it.anatomy, it.labels) for items in by_split.values() for _, it in items if it.labels}
    )
    bad = set()
    # all triples at once: LLM backends generate `captions.concurrency` banks in parallel
    for (m, a, labs), bank in zip(triples, conv.banks([(m, a, list(labs)) for m, a, labs in triples], errors="return")):
        tid = triple_id(m, a, labs)
        if isinstance(bank, LabelError):  # nothing left to caption
            bad.add(tid)
            continue
        plan.captions[tid] = Caption(
            list(bank.captions), list(bank.kinds), bank.backend, bank.bank_id, list(bank.record_labels)
        )
        plan.bank_ids[tid] = {
            "bank_id": bank.bank_id,
            "backend": bank.backend,
            "n": len(bank.captions),
            "fallback": bool(bank.fallback),
        }
    return triples, bad


def _chunk_split(cfg: BuildConfig, split: str, keyed: list[tuple[str, Item]], bad: set[str], plan: Plan) -> None:
    """``plan.chunks[split]``: the split's captionable items, shuffled (seeded by the split name), in shards."""
    items = []
    for key, it in keyed:
        tid = triple_id(it.modality, it.anatomy, it.labels)
        if not it.labels and pair_text_of(it) is not None:
            items.append((key, it, ""))  # captions from the item's own text only
        elif tid in bad or not it.labels:
            plan.skips[split].append(Skip(it.source, it.source_id, "missing_labels", "", split).__dict__)
        else:
            items.append((key, it, tid))
    rng = np.random.default_rng([cfg.seed, zlib.crc32(split.encode())])
    order = rng.permutation(len(items))
    shuffled = [items[i] for i in order]
    n = cfg.shards.max_samples
    plan.chunks[split] = [shuffled[i : i + n] for i in range(0, len(shuffled), n)]


def plan_build(cfg: BuildConfig, sources: dict, *, refresh: bool = False, log=print) -> Plan:
    """Enumerate, caption, shuffle and chunk. Returns the :class:`Plan`."""
    from .mixing import apply_mix, mix_entries

    plan = Plan(config_hash=cfg.content_hash())
    wanted = set(cfg.splits) if cfg.splits else None
    by_split = _enumerate(sources, wanted, plan)
    entries = mix_entries(cfg)
    if entries:
        by_split, plan.mixing = apply_mix(by_split, entries, cfg.seed)
    conv = caption_converter(cfg, refresh=refresh)
    triples, bad = _caption_banks(conv, by_split, plan)
    plan.caption_stats = conv.stats()
    pairs = {n: src.stats.as_dict() for n, src in sources.items() if hasattr(getattr(src, "stats", None), "as_dict")}
    if pairs:
        plan.caption_stats["pairs"] = pairs
    if conv.cfg.eval_bank:
        from .captions.heldout import heldout_bank

        good = [t for t in triples if triple_id(*t) in plan.captions]
        train = {triple_id(*t): plan.captions[triple_id(*t)].captions for t in good}
        plan.heldout = heldout_bank(conv.cfg, good, train, ids=[triple_id(*t) for t in good])
    for split in sorted(by_split, key=split_sort_key):
        _chunk_split(cfg, split, by_split[split], bad, plan)
    if wanted:
        missing = wanted - set(plan.chunks)
        if missing:
            log(f"warning: no source yields split(s) {', '.join(sorted(missing))}")
    return plan
