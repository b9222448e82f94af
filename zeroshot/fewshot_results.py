"""Read few-shot results (written by ``zeroshot.fewshot``) into curves over K for the report.

Input: the ``fewshot.json`` files written by ``medclip-fewshot`` (``{"meta", "summary", "runs"}``; run records
with ``setting``, ``dataset``, ``method``, ``k``, ``seed``, ``accuracy``), or folders holding them. Any JSON
with such records (a list, or under ``runs`` / ``results``) works. Few-shot records (K >= 1) become curves:
accuracy averaged over datasets for each seed, then mean and std over seeds. ``K = 0`` records (zero-shot)
become per-method baselines. Base-to-novel averages (``summary.base_to_novel_average``) are passed through.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np


def _records(obj) -> list[dict]:
    if isinstance(obj, list):
        return [r for x in obj for r in _records(x)] if obj and not isinstance(obj[0], dict) else list(obj)
    if isinstance(obj, dict):
        for key in ("runs", "results", "records"):
            if isinstance(obj.get(key), list):
                return list(obj[key])
        if any(k in obj for k in ("k", "shots")):
            return [obj]
    return []


def _get(r: dict, *names, default=None):
    for n in names:
        if n in r and r[n] is not None:
            return r[n]
    return default


def read_fewshot_results(paths: list[Path]) -> dict:
    """``{"source", "ks", "curves": {method: {str(K): [mean, std]}}}`` from few-shot result files."""
    files = []
    for p in paths:
        if p.is_dir():
            files += sorted(p.rglob("*.json"))
        elif p.is_file():
            files.append(p)
        else:
            raise ValueError(f"few-shot results not found: {p}")
    acc = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))  # method -> k -> seed -> [acc per dataset]
    b2n: list[dict] = []
    for f in files:
        data = json.loads(f.read_text())
        if isinstance(data, dict):
            b2n += list((data.get("summary") or {}).get("base_to_novel_average") or [])
        for r in _records(data):
            if r.get("setting", "fewshot") != "fewshot":
                continue
            k = _get(r, "k", "shots")
            a = _get(r, "accuracy", "acc", "top1")
            if k is None or a is None:
                continue
            a = float(a) / (100.0 if float(a) > 1.0 else 1.0)
            acc[str(_get(r, "method", "trainer", default="method"))][int(k)][int(_get(r, "seed", default=0))].append(a)
    if not acc:
        raise ValueError(f"no few-shot records (k/shots + accuracy) in {', '.join(map(str, paths))}")
    curves: dict = {}
    baselines: dict = {}
    for m, by_k in acc.items():
        for k, by_seed in sorted(by_k.items()):
            per_seed = [float(np.mean(v)) for v in by_seed.values()]
            if k == 0:
                baselines[m] = float(np.mean(per_seed))
            else:
                curves.setdefault(m, {})[str(k)] = [float(np.mean(per_seed)), float(np.std(per_seed))]
    ks = sorted({int(k) for c in curves.values() for k in c})
    return {
        "source": ", ".join(str(p) for p in paths),
        "ks": ks,
        "curves": curves,
        "baselines": baselines,
        "base_to_novel": b2n,
    }
