"""Resumable build state per split folder, and finalisation (shard names, ``sizes.json``, ``manifest.json``).

While building, chunk parts live in ``<split>/.build/`` with one JSON record per finished chunk. A chunk is
done when its record matches the plan (same chunk hash) and every part it lists exists with the recorded
sha256 -- either still in ``.build/`` or already finalised (records of a finished build are kept in
``manifest.json``). Finalisation renames the parts to ``<prefix>-<NNNNNN>.tar`` in chunk order, removes stale
shards, and writes ``sizes.json`` and ``manifest.json`` atomically, then deletes ``.build/``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

from medclip.data.urls import SHARD_SUFFIXES

from .config import FORMAT_VERSION
from .interop import open_clip_train_args
from .writer import file_sha256

MAX_SKIP_RECORDS = 1000


def write_json(path: Path, obj) -> None:
    """Write JSON atomically (temp file + rename), sorted keys, trailing newline."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, path)


def read_json(path: Path):
    """Parsed JSON or ``None`` when missing/corrupt."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def load_done(split_dir: Path, plan_hashes: list[str], config_hash: str) -> dict[int, dict]:
    """Chunk records (index -> record, with part paths resolved) that are complete and verified."""
    cands: dict[int, dict] = {}
    man = read_json(split_dir / "manifest.json")
    if isinstance(man, dict) and man.get("config_hash") == config_hash:
        for rec in man.get("chunks", []):
            rec = dict(rec, parts=[dict(p, path=str(split_dir / p["file"])) for p in rec["parts"]])
            cands[rec["chunk"]] = rec
    tmp = split_dir / ".build"
    if tmp.is_dir():
        for p in sorted(tmp.glob("chunk-*.json")):
            rec = read_json(p)
            if not isinstance(rec, dict) or "chunk" not in rec:
                continue
            rec["parts"] = [dict(q, path=str(tmp / q["tmp"])) for q in rec["parts"]]
            cands[rec["chunk"]] = rec
    done = {}
    for i, rec in cands.items():
        if i >= len(plan_hashes) or rec.get("plan") != plan_hashes[i]:
            continue
        if all(os.path.isfile(q["path"]) and file_sha256(q["path"]) == q["sha256"] for q in rec["parts"]):
            done[i] = rec
    return done


def save_record(split_dir: Path, rec: dict) -> None:
    """Persist a freshly written chunk record in ``.build/``."""
    out = {k: v for k, v in rec.items()}
    out["parts"] = [{k: v for k, v in p.items() if k != "path"} for p in rec["parts"]]
    write_json(split_dir / ".build" / f"chunk-{rec['chunk']:06d}.json", out)


def _name_shards(split_dir: Path, tmp: Path, records: list[dict], prefix: str) -> list[dict]:
    """Move every part to ``<prefix>-NNNNNN.tar`` in record order, delete stale shards; the manifest's shard list."""
    # phase 1: move every part to a unique staging name (safe against any renaming overlap)
    staged = []
    for rec in records:
        for j, q in enumerate(rec["parts"]):
            stage = tmp / f"stage-{rec['chunk']:06d}.p{j:02d}.tar"
            os.replace(q["path"], stage)
            staged.append((rec, j, stage))
    keep = set()
    shards = []
    for n, (rec, j, stage) in enumerate(staged):
        name = f"{prefix}-{n:06d}.tar"
        os.replace(stage, split_dir / name)
        keep.add(name)
        q = rec["parts"][j]
        q["file"] = name
        shards.append(
            {k: q[k] for k in ("file", "count", "bytes", "sha256", "modality", "label")} | {"chunk": rec["chunk"]}
        )
    for stale in split_dir.iterdir():  # earlier shards, gzip ones included (the trainer reads those too)
        if stale.name.endswith(SHARD_SUFFIXES) and stale.is_file() and stale.name not in keep:
            stale.unlink()
    return shards


def _skip_summary(skips: list[dict]) -> dict:
    """The manifest's ``skipped`` section: totals by reason and by source, the first ``MAX_SKIP_RECORDS``."""
    return {
        "total": len(skips),
        "by_reason": dict(sorted(Counter(s["reason"] for s in skips).items())),
        "by_source": dict(sorted(Counter(s["source"] for s in skips).items())),
        "items": skips[:MAX_SKIP_RECORDS],
        "items_truncated": len(skips) > MAX_SKIP_RECORDS,
    }


def finalize(split_dir: Path, split: str, records: list[dict], *, prefix: str, meta: dict) -> dict:
    """Name the shards, write ``sizes.json`` / ``manifest.json``, clean up; return the manifest."""
    tmp = split_dir / ".build"
    tmp.mkdir(parents=True, exist_ok=True)
    shards = _name_shards(split_dir, tmp, records, prefix)
    totals = {k: Counter() for k in ("modality", "label", "source", "modality_label")}
    for rec in records:
        for q in rec["parts"]:
            for k, c in totals.items():
                c.update(q.get(k, {}))
    skips = sorted(
        meta.pop("enumeration_skips", []) + [s for r in records for s in r["skips"]],
        key=lambda s: (s["source"], s["source_id"], s["reason"]),
    )
    chunks = [{k: v for k, v in r.items() if k != "path"} for r in records]
    for r in chunks:
        r["parts"] = [{k: v for k, v in q.items() if k not in ("path", "tmp")} for q in r["parts"]]
    manifest = {
        "format": FORMAT_VERSION,
        "split": split,
        "prefix": prefix,
        "num_samples": sum(s["count"] for s in shards),
        "num_shards": len(shards),
        "shards": shards,
        "counts": {k: dict(sorted(c.items())) for k, c in totals.items()},
        "skipped": _skip_summary(skips),
        "excluded": sum(r["excluded"] for r in records),
        "chunks": chunks,
        **meta,
    }
    if shards:  # open_clip_train's --train-data (relative to this folder) and --train-num-samples
        manifest["open_clip_train"] = open_clip_train_args(split_dir, manifest)
    write_json(split_dir / "sizes.json", {s["file"]: s["count"] for s in shards})
    write_json(split_dir / "manifest.json", manifest)
    shutil.rmtree(tmp, ignore_errors=True)
    return manifest
