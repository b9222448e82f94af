"""Read few-shot results (written by ``zeroshot.fewshot``) into curves over K for the report.

Accepted input: JSON files (or folders of them) holding run records, either a list or under a ``runs`` /
``results`` key, each with a method name (``method`` / ``trainer``), the shots (``k`` / ``shots``), the
seed and an accuracy (``accuracy`` / ``acc``, fraction or percent). Runs are averaged over seeds per dataset,
then over datasets; the std is over seeds of the dataset-averaged accuracy.
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
    for f in files:
        for r in _records(json.loads(f.read_text())):
            k = _get(r, "k", "shots")
            a = _get(r, "accuracy", "acc", "top1")
            if k is None or a is None:
                continue
            a = float(a) / (100.0 if float(a) > 1.0 else 1.0)
            acc[str(_get(r, "method", "trainer", default="method"))][int(k)][int(_get(r, "seed", default=0))].append(a)
    if not acc:
        raise ValueError(f"no few-shot records (k/shots + accuracy) in {', '.join(map(str, paths))}")
    curves = {}
    for m, by_k in acc.items():
        curves[m] = {}
        for k, by_seed in by_k.items():
            per_seed = [float(np.mean(v)) for v in by_seed.values()]
            curves[m][str(k)] = [float(np.mean(per_seed)), float(np.std(per_seed))]
    ks = sorted({int(k) for c in curves.values() for k in c})
    return {"source": ", ".join(str(p) for p in paths), "ks": ks, "curves": curves}
