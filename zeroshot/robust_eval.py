"""Corruption robustness of zero-shot classification: error per corruption x severity, mCE vs a reference.

For dataset ``d``, corruption ``c`` and severity ``s`` the top-1 error is ``E[c][s]``. Against a reference
model ``ref`` (ImageNet-C, Hendrycks & Dietterich 2019):

- ``CE_c = sum_s E[c][s] / sum_s E_ref[c][s]``; ``mCE = mean_c CE_c``;
- relative ``CE_c = sum_s (E[c][s] - E_clean) / sum_s (E_ref[c][s] - E_ref_clean)``; ``relative mCE`` = mean;
- ``error reduction = 1 - sum_{c,s} E[c][s] / sum_{c,s} E_ref[c][s]`` (> 0: fewer corruption errors).

Image ``i`` is corrupted with seed ``seed * 1_000_003 + i``, so every model sees identical corrupted images
whatever the number of loader workers or ranks. Modality-specific corruptions (``stain_bubble`` for
pathology) are evaluated only on samples of that modality.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from medclip.zeroshot_head import build_text_classifier

from .data import Items
from .evaluate import EvalOptions, limit, score_items
from .robustness import CORRUPTIONS, MODALITY_ONLY, corrupt
from .suites import class_prompts


class _Corrupter:
    """Picklable ``array_transform`` for DataLoader workers: flat index -> (corruption, severity, image)."""

    def __init__(self, jobs: list[tuple[str, int, int]], seed: int) -> None:
        self.jobs, self.seed = jobs, seed

    def __call__(self, i: int, arr: np.ndarray) -> np.ndarray:
        name, severity, image = self.jobs[i]
        if name == "clean":
            return arr
        return corrupt(arr, name, severity, self.seed * 1_000_003 + image)


def corruption_errors(
    model,
    tokenizer,
    preprocess,
    ds,
    items: Items,
    *,
    device,
    opts: EvalOptions,
    corruptions=None,
    rank: int = 0,
    world_size: int = 1,
) -> dict:
    """Clean error and ``{corruption: [error at severity 1..5]}`` of one dataset's (limited) items.

    All (corruption, severity, image) combinations go through one DataLoader pass, so decoding and
    corrupting run in the workers in parallel with the model.
    """
    text = build_text_classifier(model, tokenizer, class_prompts(ds), device=device)
    mods = np.asarray(items.modalities)
    groups: list[tuple[str, int, np.ndarray]] = [("clean", 0, np.arange(len(items)))]
    for name in corruptions or CORRUPTIONS:
        keep = np.arange(len(items))
        if name in MODALITY_ONLY:
            keep = np.flatnonzero(np.isin(mods, MODALITY_ONLY[name]))
        if len(keep):
            groups += [(name, s, keep) for s in range(1, 6)]
    jobs = [(name, s, int(i)) for name, s, keep in groups for i in keep]
    flat = Items([items.sources[j[2]] for j in jobs], items.labels[[j[2] for j in jobs]], ["?"] * len(jobs))
    cos = score_items(
        model,
        preprocess,
        flat,
        text,
        device=device,
        opts=opts,
        rank=rank,
        world_size=world_size,
        array_transform=_Corrupter(jobs, opts.seed),
    )
    wrong = cos.argmax(1) != flat.labels
    out = {"n_samples": len(items), "clean_error": None, "errors": {}, "n_per_corruption": {}}
    pos = 0
    for name, _severity, keep in groups:
        err = float(np.mean(wrong[pos : pos + len(keep)]))
        pos += len(keep)
        if name == "clean":
            out["clean_error"] = err
            continue
        out["errors"].setdefault(name, []).append(err)
        out["n_per_corruption"][name] = len(keep)
    return out


def compare(model_res: dict, ref_res: dict) -> dict:
    """mCE, relative mCE and error reduction of ``model_res`` against ``ref_res`` (common corruptions)."""
    common = [c for c in model_res["errors"] if c in ref_res["errors"]]
    if not common:
        return {"mce": None, "relative_mce": None, "error_reduction": None, "ce": {}}
    ce, rce = {}, {}
    for c in common:
        e, r = np.asarray(model_res["errors"][c]), np.asarray(ref_res["errors"][c])
        ce[c] = float(e.sum() / max(r.sum(), 1e-12))
        denom = float((r - ref_res["clean_error"]).sum())
        # relative CE is undefined when the reference loses nothing under the corruption
        rce[c] = float((e - model_res["clean_error"]).sum() / denom) if denom > 1e-9 else None
    tot_m = sum(float(np.sum(model_res["errors"][c])) for c in common)
    tot_r = sum(float(np.sum(ref_res["errors"][c])) for c in common)
    return {
        "mce": float(np.mean(list(ce.values()))),
        "relative_mce": float(np.mean([v for v in rce.values() if v is not None]))
        if any(v is not None for v in rce.values())
        else None,
        "error_reduction": 1.0 - tot_m / max(tot_r, 1e-12),
        "ce": ce,
        "relative_ce": rce,
        "ref_clean_error": ref_res["clean_error"],
        "ref_errors": {c: ref_res["errors"][c] for c in common},
    }


def load_reference_report(path: str | Path) -> tuple[str, dict]:
    """``(reference model id, {dataset: robustness result})`` from an earlier report.json."""
    data = json.loads(Path(path).read_text())
    rob = data.get("robustness")
    if not rob or not rob.get("datasets"):
        raise ValueError(f"{path} has no robustness results; run medclip-eval --robustness on the reference first")
    return data["model"]["id"], rob["datasets"]


def run_robustness(
    model,
    tokenizer,
    preprocess,
    suite,
    datasets,
    item_lists: dict,
    *,
    device,
    opts: EvalOptions,
    corruptions=None,
    max_samples: int = 500,
    reference=None,
) -> dict:
    """Robustness for each evaluated single-label dataset; ``reference`` = (id, results) or (id, model triple)."""
    out = {
        "reference": None,
        "corruptions": list(corruptions or CORRUPTIONS),
        "max_samples": max_samples,
        "datasets": {},
    }
    ref_id, ref_data = reference if reference is not None else (None, None)
    out["reference"] = ref_id or "none (pass --reference to compute mCE)"
    for ds in datasets:
        if ds.name not in item_lists or ds.multilabel or ds.shift_of:
            continue
        items = limit(item_lists[ds.name], max_samples, opts.seed)
        res = corruption_errors(
            model, tokenizer, preprocess, ds, items, device=device, opts=opts, corruptions=corruptions
        )
        if isinstance(ref_data, dict) and ds.name in ref_data:
            res.update(compare(res, ref_data[ds.name]))
        elif isinstance(ref_data, tuple):
            rm, rpre, rtok = ref_data
            with torch.no_grad():
                ref_res = corruption_errors(
                    rm, rtok, rpre, ds, items, device=device, opts=opts, corruptions=corruptions
                )
            res.update(compare(res, ref_res))
        out["datasets"][ds.name] = res
    vals = [d["mce"] for d in out["datasets"].values() if d.get("mce") is not None]
    out["mce"] = float(np.mean(vals)) if vals else None
    return out
