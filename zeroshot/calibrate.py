"""Temperature scaling of a suite run: fit T on each dataset's labelled validation split, report on test.

The validation split is the dataset's ``probe_val`` (the same labelled split the linear probe selects C on);
multi-label datasets and datasets without one are skipped with a reason. Before / after on the test split:
ECE (15 equal-width bins), NLL and Brier with bootstrap CIs over test images, and both reliability
diagrams. The fitted temperatures are saved beside a checkpoint as ``<ckpt>.calibration.json``
(:mod:`zeroshot.stats.temperature_store`; read with ``load_temperature``).
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .data import MissingDatasetError, resolve_items
from .evaluate import limit, score_items, text_classifier
from .metrics import reliability
from .stats import wmetrics as wm
from .stats.bootstrap import BootstrapConfig, bootstrap_cis
from .stats.calibration import calibration_metrics, fit_temperature, softmax
from .stats.temperature_store import save_temperatures
from .suites import class_prompts


def _per_item(logits: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-item NLL and Brier terms (their means are the metrics)."""
    p = softmax(logits)
    onehot = np.zeros_like(p)
    onehot[np.arange(len(y)), y] = 1.0
    nll = -np.log(np.clip(p[np.arange(len(y)), y], 1e-300, None))
    return nll, ((p - onehot) ** 2).sum(1)


def split_calibration(logits: np.ndarray, y: np.ndarray, cfg: BootstrapConfig | None, n_bins: int = 15) -> dict:
    """ECE / NLL / Brier of ``softmax(logits)`` on test, with CIs when ``cfg`` is given."""
    out = calibration_metrics(logits, y, n_bins)
    if cfg is not None:
        p = softmax(logits)
        nll_i, brier_i = _per_item(logits, y)
        stats = {
            "ece": lambda w: wm.ece(w, y, p, n_bins),
            "nll": lambda w: wm.mean(w, nll_i),
            "brier": lambda w: wm.mean(w, brier_i),
        }
        out["ci"] = bootstrap_cis(stats, len(y), cfg)
    return out


def calibrate_dataset(model, tokenizer, preprocess, suite, ds, result: dict, *, device, opts) -> dict:
    """Fit T on ``ds.probe_val``; before / after metrics and reliability on the dataset's test scores."""
    base = {"name": ds.name}
    if ds.multilabel or not ds.probe_val:
        return {**base, "status": "skipped", "message": "multi-label or no probe_val split in the suite"}
    if "_scores" not in result:
        return {**base, "status": "skipped", "message": "the run kept no test scores"}
    try:
        val = limit(resolve_items(suite, ds, ds.probe_val), opts.max_samples, opts.seed)
    except MissingDatasetError as e:
        return {**base, "status": "skipped", "message": str(e)}
    text = text_classifier(model, tokenizer, class_prompts(ds), device=device, cache=opts.cache)
    cos_val = score_items(model, preprocess, val, text, device=device, opts=opts)
    scale = float(result.get("logit_scale", 1.0))
    fit = fit_temperature(scale * cos_val, val.labels)
    y = np.asarray(result["_scores"]["labels"])
    logits = scale * np.asarray(result["_scores"]["cosine"], dtype=np.float64)
    t = fit["temperature"]
    return {
        **base,
        "status": "ok",
        "temperature": t,
        "fit": fit,
        "val_split": ds.probe_val,
        "n_val": len(val),
        "n_test": len(y),
        "before": split_calibration(logits, y, opts.bootstrap),
        "after": split_calibration(logits / t, y, opts.bootstrap),
        "reliability_before": reliability(y, softmax(logits)),
        "reliability_after": reliability(y, softmax(logits / t)),
    }


def run_calibration(model, tokenizer, preprocess, suite, datasets, results, *, device, opts, info) -> dict:
    """Calibrate every evaluated single-label dataset; save the temperatures beside a checkpoint file."""
    by_name = {r["name"]: r for r in results if r.get("status") == "ok"}
    rows = [
        calibrate_dataset(model, tokenizer, preprocess, suite, ds, by_name[ds.name], device=device, opts=opts)
        for ds in datasets
        if ds.name in by_name and not ds.shift_of
    ]
    out: dict = {"datasets": rows, "saved_to": None}
    model_path = info.get("pretrained")
    fitted = {
        f"{suite.name}/{r['name']}": {
            "temperature": r["temperature"],
            "logit_scale": by_name[r["name"]].get("logit_scale"),
            "fitted_on": r["val_split"],
            "n": r["n_val"],
            "nll_before": r["fit"]["nll_before"],
            "nll_after": r["fit"]["nll_after"],
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        for r in rows
        if r["status"] == "ok" and math.isfinite(r["temperature"])
    }
    if fitted and model_path and Path(str(model_path)).exists():
        out["saved_to"] = str(save_temperatures(model_path, fitted))
    return out
