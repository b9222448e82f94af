"""Cross-source near-duplicate control by perceptual hash (``hygiene.near_dup: report | drop``).

The same figure often appears in several collections (a PMC figure in PMC-OA, ROCO and a BIOMEDICA-style
set), re-encoded or resized. After the exact de-duplication within each source, every written sample's
64-bit pHash (:mod:`data_pipelines.phash`, recorded per chunk part) is compared with those of the *other*
sources; pairs within ``hygiene.near_dup_threshold`` bits are counted per source pair. With ``drop``, the
first sample wins, in this order: eval splits first (as for the exact de-duplication), then canonical split
order; within a split, sources in ``hygiene.near_dup_priority`` order (unlisted sources after, by name),
then chunk order and position. Each later sample that is near a kept sample of another source is dropped
as a ``near_duplicate`` skip. Near-duplicates within one source are left alone (a series of similar
slices is not a copy).

The manifest's ``near_duplicates`` section records the mode, the threshold, the pair counts per source pair
(``"a+b"``, names sorted) and the samples dropped per source.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from .phash import near_pairs
from .plan import split_sort_key


def _samples(done: dict, eval_first: list[str], priority: list[str]) -> list[tuple[str, int, str, str, int]]:
    order = sorted(done, key=lambda s: (s not in eval_first, split_sort_key(s)))
    rank = {s: i for i, s in enumerate(priority)}
    out = []
    for split in order:
        rows = []
        for i in sorted(done[split]):
            for q in done[split][i]["parts"]:
                ph = q.get("phash", {})
                for key, source, _, _ in q.get("samples", []):
                    if key in ph:
                        rows.append((split, i, key, source, int(ph[key], 16)))
        rows.sort(key=lambda r: (rank.get(r[3], len(rank)), r[3]))  # stable: chunk order kept per source
        out += rows
    return out


def find_near_duplicates(
    done: dict, eval_first: list[str], threshold: int, priority: list[str] = ()
) -> tuple[dict, dict]:
    """Cross-source near-duplicate pairs and the keys a ``drop`` run removes.

    Returns:
        ``(drops, report)``: ``drops[(split, chunk)] = {keys}``; ``report`` = ``{pairs: {"a+b": n},
        dropped: {source: n}, dropped_by_split: {split: n}}``.
    """
    samples = _samples(done, eval_first, list(priority))
    pairs = {ij: d for ij, d in near_pairs([s[4] for s in samples], threshold).items()
             if samples[ij[0]][3] != samples[ij[1]][3]}  # fmt: skip
    by_pair = Counter("+".join(sorted((samples[i][3], samples[j][3]))) for i, j in pairs)
    earlier: dict[int, list[int]] = {}
    for i, j in pairs:
        earlier.setdefault(j, []).append(i)
    dropped: set[int] = set()
    for j in sorted(earlier):
        if any(i not in dropped for i in earlier[j]):
            dropped.add(j)
    drops: dict[tuple[str, int], set[str]] = {}
    for j in dropped:
        split, i, key, _, _ = samples[j]
        drops.setdefault((split, i), set()).add(key)
    report = {
        "pairs": dict(sorted(by_pair.items())),
        "dropped": dict(sorted(Counter(samples[j][3] for j in dropped).items())),
        "dropped_by_split": dict(sorted(Counter(samples[j][0] for j in dropped).items())),
    }
    return drops, report


def apply_near_dup(cfg, done: dict, eval_first: list[str], tmp_dirs: dict[str, Path]) -> dict | None:
    """Run the configured near-duplicate control; the manifest section (None when ``near_dup: none``)."""
    mode, t = cfg.hygiene.near_dup, cfg.hygiene.near_dup_threshold
    if mode == "none":
        return None
    drops, report = find_near_duplicates(done, eval_first, t, cfg.hygiene.near_dup_priority)
    if mode == "drop" and drops:
        from .dedup import apply_drops

        apply_drops(done, drops, tmp_dirs, "near_duplicate", f"perceptual hash within {t} bits of another source's")
    else:
        report["dropped"], report["dropped_by_split"] = {}, {}
    return {"mode": mode, "threshold": t, "hash": "dct-phash-64", **report}
