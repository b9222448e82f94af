"""Subgroup / fairness section of a run (``--subgroups site sex ...``) from the run's saved test scores.

Per-item attributes come from the data: a CSV dataset's columns of those names, or a shard sample's
``.json`` (its ``attributes`` dict, else top-level keys of those names). Items without the attribute are
left out of that attribute's report. Single-label datasets: per-group accuracy with CIs, per-group ECE,
the largest accuracy gap with its permutation p-value; binary datasets also give the equal-opportunity
and equalised-odds differences at the argmax decision (``s1 - s0 >= 0``). See :mod:`zeroshot.stats.subgroups`.
"""

from __future__ import annotations

import csv

import numpy as np

from .data import index_shards
from .stats.bootstrap import BootstrapConfig
from .stats.calibration import softmax
from .stats.subgroups import subgroup_report
from .suites import dataset_dir


def item_attributes(suite, ds, names: list[str]) -> dict[str, dict[str, str]]:
    """``{item key: {attribute: value}}`` for the attributes in ``names`` that the data carries."""
    root = dataset_dir(suite, ds)
    out: dict[str, dict[str, str]] = {}
    if ds.layout == "csv" and (root / ds.csv.file).is_file():
        with open(root / ds.csv.file, newline="") as f:
            for row in csv.DictReader(f):
                vals = {a: row[a] for a in names if row.get(a) not in (None, "")}
                if vals:
                    out[row[ds.csv.image_column]] = vals
    elif ds.layout == "shards" and root.is_dir():
        for r in index_shards(root):
            meta = r.get("json", {})
            src = meta.get("attributes") if isinstance(meta.get("attributes"), dict) else meta
            vals = {a: str(src[a]) for a in names if a in src}
            if vals:
                out[r["key"]] = vals
    return out


def run_subgroups(suite, datasets, results, names: list[str], *, cfg: BootstrapConfig | None, min_size: int = 10):
    """Subgroup reports for every evaluated single-label dataset whose data carries the attributes."""
    cfg = cfg or BootstrapConfig()
    by_name = {r["name"]: r for r in results if r.get("status") == "ok" and "_scores" in r}
    out = []
    for ds in datasets:
        r = by_name.get(ds.name)
        if r is None or ds.multilabel:
            continue
        attrs = item_attributes(suite, ds, names)
        sc = r["_scores"]
        cos, y = np.asarray(sc["cosine"]), np.asarray(sc["labels"])
        probs = softmax(float(r.get("logit_scale", 1.0)) * cos)
        pred = cos.argmax(1)
        for a in names:
            idx = [i for i, k in enumerate(sc["keys"]) if a in attrs.get(k, {})]
            if not idx:
                out.append({"dataset": ds.name, "attribute": a, "status": "skipped", "message": "no such attribute"})
                continue
            groups = [attrs[sc["keys"][i]][a] for i in idx]
            kw = {}
            if cos.shape[1] == 2:
                kw = {"binary_score": cos[idx, 1] - cos[idx, 0], "threshold": 0.0}
            rep = subgroup_report(groups, y[idx], pred[idx], probs[idx], cfg=cfg, min_size=min_size, **kw)
            out.append({"dataset": ds.name, "attribute": a, "status": "ok", "n": len(idx), **rep})
    return {"min_size": min_size, "reports": out}
