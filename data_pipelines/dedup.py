"""De-duplication by decoded-pixel sha256 within each source (``hygiene.dedup: source``, the default).

Runs after every chunk is written and before the split folders are finalised. The first sample of each
(source, sha256) is kept, in this order: the splits outside ``hygiene.apply_to`` (the eval splits) first,
then the others, each in canonical split order, then chunk order and position. A copy in ``test`` therefore
wins over one in ``train``. Dropped samples are recorded as skips with reason ``duplicate`` (manifest
``skipped.by_reason.duplicate``); their chunk parts are rewritten without them (same bytes for the rest).
"""

from __future__ import annotations

import json
import os
import tarfile
from collections import Counter
from pathlib import Path

from .plan import split_sort_key
from .sources.base import Skip
from .writer import _Part


def duplicates(done: dict[str, dict[int, dict]], eval_first: list[str]) -> dict[tuple[str, int], set[str]]:
    """Keys to drop, by (split, chunk index)."""
    order = sorted(done, key=lambda s: (s not in eval_first, split_sort_key(s)))
    seen: set[tuple[str, str]] = set()
    drop: dict[tuple[str, int], set[str]] = {}
    for split in order:
        for i in sorted(done[split]):
            for q in done[split][i]["parts"]:
                for key, source, _, sha in q.get("samples", []):
                    if (source, sha) in seen:
                        drop.setdefault((split, i), set()).add(key)
                    seen.add((source, sha))
    return drop


def _rewrite_part(q: dict, drop: set[str], path: Path) -> dict:
    """Copy the samples of part ``q`` not in ``drop`` to ``path``; the new part record."""
    groups: dict[str, dict] = {}
    with tarfile.open(q["path"]) as tf:
        for m in tf:
            key, _, ext = m.name.partition(".")
            if m.isfile() and key not in drop:
                groups.setdefault(key, {"__key__": key})[ext] = tf.extractfile(m).read()
    part = _Part(path)
    for sample in groups.values():
        meta = json.loads(sample["json"])
        part.tar.write(sample)
        part.count += 1
        part.modality[meta["modality"]] += 1
        part.source[meta["source"]] += 1
        for lab in meta["labels"]:
            part.label[lab] += 1
            part.pair[f"{meta['modality']}/{lab}"] += 1
    part.samples = [s for s in q.get("samples", []) if s[0] not in drop]
    part.phash = {k: v for k, v in q.get("phash", {}).items() if k not in drop}
    out = part.close()
    out["path"] = str(path)
    return out


def apply_dedup(done: dict[str, dict[int, dict]], eval_first: list[str], tmp_dirs: dict[str, Path]) -> int:
    """Drop duplicate samples from the chunk records in ``done`` (in place); returns how many were dropped."""
    return apply_drops(done, duplicates(done, eval_first), tmp_dirs, "duplicate", "same pixel sha256 as a kept sample")


def apply_drops(
    done: dict[str, dict[int, dict]], drops: dict[tuple[str, int], set[str]], tmp_dirs: dict[str, Path],
    reason: str, detail: str,
) -> int:  # fmt: skip
    """Remove the keys ``drops[(split, chunk)]`` from the written chunks (skips with ``reason``); the count."""
    total = 0
    for (split, i), keys in sorted(drops.items()):
        rec = done[split][i]
        parts = []
        for j, q in enumerate(rec["parts"]):
            hit = {s[0] for s in q.get("samples", [])} & keys
            if not hit:
                parts.append(q)
                continue
            new = _rewrite_part(q, hit, tmp_dirs[split] / f"chunk-{i:06d}.p{j:02d}.dedup.tar")
            for key, source, sid, _ in q["samples"]:
                if key in hit:
                    rec["skips"].append(Skip(source, sid, reason, detail, split).__dict__)
            os.replace(new["path"], q["path"])
            new["path"], new["tmp"] = q["path"], q.get("tmp", Path(q["path"]).name)
            if "file" in q:
                new["file"] = q["file"]
            if new["count"]:
                parts.append(new)
            else:
                os.unlink(q["path"])
            total += len(hit)
        rec["parts"] = parts
        if reason == "duplicate":
            rec["duplicates"] = rec.get("duplicates", 0) + len(keys)
        else:
            rec[reason] = rec.get(reason, 0) + len(keys)
    return total


def count_by_source(done: dict[str, dict[int, dict]]) -> Counter:
    """Duplicates dropped per source (from the skip records)."""
    return Counter(s["source"] for recs in done.values() for r in recs.values() for s in r["skips"]
                   if s["reason"] == "duplicate")  # fmt: skip
