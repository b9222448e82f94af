"""``python -m data_pipelines verify DIR...``: check shard folders against their ``sizes.json``/``manifest.json``.

Checks: every shard listed in ``sizes.json`` exists with that many samples (and the manifest's sha256),
read with the trainer's reader, so damaged shards are named with the same reason and counts as in training
(``name: reason (detail): R of E samples read``, :mod:`medclip.data.damage`);
every sample has exactly one image member, a ``.txt`` and a schema-valid ``.json``; every image decodes
with the recorded width/height; keys are unique; no ``sha256`` of a training split (``--exclude-splits``,
default train,val) is on an exclusion list.
"""

from __future__ import annotations

import json
from pathlib import Path

from medclip.data.damage import DataHealth
from medclip.data.tario import read_shard
from medclip.data.urls import SHARD_SUFFIXES

from .interop import open_clip_train_flags
from .sources.base import MODALITIES
from .writer import file_sha256

REQUIRED = {
    "key": str, "source": str, "source_id": str, "split": str, "modality": str, "anatomy": str,
    "labels": list, "captions": list, "caption_kinds": list, "caption_backend": str, "sha256": str,
    "width": int, "height": int,
}  # fmt: skip
IMAGE_EXTS = ("jpg", "jpeg", "png")
TEXT_ONLY_KINDS = {"native", "report"}  # caption kinds of a pairs sample, which may carry no labels


def check_meta(meta: dict) -> list[str]:
    """Schema problems of one sample's ``.json`` (empty list = valid)."""
    errs = [f"{k}: missing or not {t.__name__}" for k, t in REQUIRED.items() if not isinstance(meta.get(k), t)]
    if errs:
        return errs
    if meta["modality"] not in MODALITIES:
        errs.append(f"modality {meta['modality']!r} not in {MODALITIES}")
    if not all(isinstance(x, str) and x for x in meta["labels"]):
        errs.append("labels must be a list of non-empty strings")
    elif not meta["labels"] and not (meta["caption_kinds"] and set(meta["caption_kinds"]) <= TEXT_ONLY_KINDS):
        # an image-text pair without labels carries only its own text (native caption / report captions);
        # every label-derived sample must name its labels
        errs.append("labels must be non-empty unless every caption is native or report text")
    if not meta["captions"] or len(meta["captions"]) != len(meta["caption_kinds"]):
        errs.append("captions must be non-empty and parallel to caption_kinds")
    if len(meta["sha256"]) != 64:
        errs.append("sha256 must be 64 hex characters")
    return errs


def _samples(path: Path, expected: int | None = None):
    """``([(key, {ext: bytes})], damage)`` of one shard, read as the trainer reads it."""
    samples, damage = read_shard(str(path), expected)
    return [(s["__key__"], {k: v for k, v in s.items() if not k.startswith("__")}) for s in samples], damage


def _check_sample(where: str, members: dict, exclude: frozenset, health: DataHealth, bad) -> None:
    """One sample's members: one image, ``.txt`` and ``.json``; the metadata; the image decodes at its stated size;
    not excluded. Problems go to ``bad``, skips to ``health``."""
    from .imageio import decode_shard_image

    imgs = [e for e in members if e in IMAGE_EXTS]
    if len(imgs) != 1 or "json" not in members or "txt" not in members:
        if not imgs:
            health.add_skips({"no_image": 1})
        bad(f"{where}: members {sorted(members)}; need one image, .txt and .json")
        return
    try:
        meta = json.loads(members["json"])
    except ValueError:
        health.add_skips({"bad_json": 1})
        bad(f"{where}: .json does not parse")
        return
    for e in check_meta(meta):
        bad(f"{where}: {e}")
    try:
        px = decode_shard_image(members[imgs[0]])
    except Exception as e:
        health.add_skips({"undecodable_image": 1})
        bad(f"{where}: image does not decode ({type(e).__name__})")
        return
    if (px.shape[1], px.shape[0]) != (meta.get("width"), meta.get("height")):
        bad(f"{where}: image is {px.shape[1]}x{px.shape[0]}, json says {meta.get('width')}x{meta.get('height')}")
    if meta.get("sha256") in exclude:
        bad(f"{where}: sha256 is on the exclusion list")


def verify_dir(split_dir: str | Path, *, exclude: frozenset = frozenset(), log=print) -> list[str]:
    """Verify one split folder; returns the list of problems (logged as they are found)."""
    d = Path(split_dir)
    problems: list[str] = []

    def bad(msg: str) -> None:
        problems.append(msg)
        log(f"  FAIL {d.name}: {msg}")

    try:
        sizes = json.loads((d / "sizes.json").read_text())
        manifest = json.loads((d / "manifest.json").read_text())
    except (OSError, ValueError) as e:
        bad(f"cannot read sizes.json/manifest.json: {e}")
        return problems
    sha = {s["file"]: s["sha256"] for s in manifest.get("shards", [])}
    if set(sizes) != set(sha):
        bad("sizes.json and manifest.json list different shards")
    stray = {p.name for p in d.iterdir() if p.name.endswith(SHARD_SUFFIXES) and p.is_file()} - set(sizes)
    if stray:
        bad(f"shards not listed in sizes.json: {sorted(stray)[:5]}")
    keys: set[str] = set()
    total = 0
    health = DataHealth()
    for name, count in sorted(sizes.items()):
        p = d / name
        if not p.is_file():
            bad(f"{name}: missing")
            continue
        if name in sha and file_sha256(p) != sha[name]:
            bad(f"{name}: sha256 differs from manifest")
        samples, damage = _samples(p, count)
        if damage is not None:
            health.add_shard(damage)
            bad(damage.describe())
        for key, members in samples:
            total += 1
            if key in keys:
                bad(f"{name}: duplicate key {key}")
            keys.add(key)
            _check_sample(f"{name}/{key}", members, exclude, health, bad)
    if manifest.get("num_samples") != total:
        bad(f"manifest num_samples {manifest.get('num_samples')} != {total} samples found")
    log(f"  {'ok  ' if not problems else 'BAD '} {d}: {total} samples in {len(sizes)} shards")
    if health.shards or health.skipped:
        log(f"       damage: {health.line()}")
    if sizes and not problems:
        log(f"       open_clip_train: {open_clip_train_flags(d, manifest)}")
    return problems


def _split_of(d: Path) -> str:
    try:
        return str(json.loads((d / "manifest.json").read_text()).get("split") or d.name)
    except (OSError, ValueError, AttributeError):
        return d.name


def verify_paths(
    paths: list[str], *, exclude: list[str] = (), exclude_splits: list[str] = ("train", "val"), log=print
) -> bool:
    """Verify split folders (a folder without sizes.json is searched for split sub-folders).

    Exclusion lists are checked against the splits in ``exclude_splits`` only (the training splits, which
    ``hygiene.apply_to`` guards): the eval split an exclusion list was made from is never compared with it.
    """
    from .build import read_exclusions

    ex = read_exclusions(list(exclude))
    dirs = []
    for p in map(Path, paths):
        if (p / "sizes.json").is_file():
            dirs.append(p)
        else:
            subs = sorted(q.parent for q in p.glob("*/sizes.json"))
            if not subs:
                raise FileNotFoundError(f"no sizes.json in {p} or its sub-folders")
            dirs.extend(subs)
    ok = True
    for d in dirs:
        ok &= not verify_dir(d, exclude=ex if _split_of(d) in set(exclude_splits) else frozenset(), log=log)
    return ok
