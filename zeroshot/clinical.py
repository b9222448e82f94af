"""Clinical multi-label protocol (CheXpert-style) for the suite's multi-label datasets.

Per label: AUC with its bootstrap CI, a threshold chosen on the dataset's ``probe_val`` split (Youden's J
or a target sensitivity, ``threshold_rule``), F1 / MCC / sensitivity / specificity at that threshold on
test, sensitivity at ``fixed_specificity``, and the ROC curve. The headline is the mean AUC over
``label_set`` (e.g. the five CheXpert competition labels), or over every label.

Zero-shot scores per label: ``cosine`` is the plain cosine of the image with the label's prompt ensemble;
``pos_neg`` is CheXzero's softmax over the pair (positive prompts, negative prompts from
``negative_templates``, e.g. "no {}"), at the model's logit scale.
"""

from __future__ import annotations

import numpy as np
import torch

from .data import MissingDatasetError, resolve_items
from .evaluate import encode_images, limit, text_classifier
from .stats import wmetrics as wm
from .stats.bootstrap import BootstrapConfig, bootstrap_cis
from .stats.multilabel import (
    binary_metrics,
    pos_neg_scores,
    roc_curve,
    sensitivity_at_specificity,
    sensitivity_threshold,
    youden_threshold,
)
from .suites import class_prompts, negative_prompts


def label_scores(model, tokenizer, preprocess, ds, items, *, device, opts, scale: float) -> np.ndarray:
    """``(N, L)`` per-label scores of ``items`` under the dataset's ``label_scoring``."""
    feats = encode_images(model, preprocess, items.sources, device=torch.device(device), opts=opts)
    pos = text_classifier(model, tokenizer, class_prompts(ds), device=device, cache=opts.cache)
    cos_pos = (feats @ pos.to(feats.device).T).cpu().numpy()
    if ds.label_scoring == "cosine":
        return cos_pos
    neg = text_classifier(model, tokenizer, negative_prompts(ds), device=device, cache=opts.cache)
    return pos_neg_scores(cos_pos, (feats @ neg.to(feats.device).T).cpu().numpy(), scale)


def _threshold(ds, y: np.ndarray, s: np.ndarray) -> float:
    if ds.threshold_rule == "youden":
        return youden_threshold(y, s)
    return sensitivity_threshold(y, s, ds.target_sensitivity)


def clinical_dataset(model, tokenizer, preprocess, suite, ds, result: dict, *, device, opts) -> dict:
    """The protocol on one multi-label dataset (thresholds need ``probe_val``; without it they are skipped)."""
    cfg = opts.bootstrap or BootstrapConfig()
    scale = float(result.get("logit_scale", 1.0))
    test = limit(resolve_items(suite, ds), opts.max_samples, opts.seed)
    s_test = label_scores(model, tokenizer, preprocess, ds, test, device=device, opts=opts, scale=scale)
    y_test = np.asarray(test.labels)
    val, s_val = None, None
    if ds.probe_val:
        try:
            val = limit(resolve_items(suite, ds, ds.probe_val), opts.max_samples, opts.seed)
            s_val = label_scores(model, tokenizer, preprocess, ds, val, device=device, opts=opts, scale=scale)
        except MissingDatasetError:
            val = None
    names = [c.name for c in ds.classes]
    chosen = [names.index(n) for n in ds.label_set] if ds.label_set else list(range(len(names)))
    stats = {n: (lambda w, c=c: wm.binary_auc(w, y_test[:, c], s_test[:, c])) for c, n in enumerate(names)}
    stats["mean_auc"] = lambda w: np.nanmean(np.stack([stats[names[c]](w) for c in chosen], 1), axis=1)
    cis = bootstrap_cis(stats, len(y_test), cfg)
    labels = []
    for c, n in enumerate(names):
        row: dict = {"label": n, "positives": int(y_test[:, c].sum()), "auc": cis[n]}
        yc = y_test[:, c]
        if 0 < yc.sum() < len(yc):
            row["roc"] = roc_curve(yc, s_test[:, c])
            row["sensitivity_at_specificity"] = sensitivity_at_specificity(yc, s_test[:, c], ds.fixed_specificity)
            if val is not None and 0 < val.labels[:, c].sum() < len(val):
                t = _threshold(ds, val.labels[:, c], s_val[:, c])
                row["at_threshold"] = binary_metrics(yc, s_test[:, c], t)
        labels.append(row)
    return {
        "name": ds.name,
        "status": "ok",
        "scoring": ds.label_scoring,
        "threshold_rule": ds.threshold_rule,
        "target_sensitivity": ds.target_sensitivity if ds.threshold_rule == "sensitivity" else None,
        "fixed_specificity": ds.fixed_specificity,
        "label_set": [names[c] for c in chosen],
        "mean_auc": cis["mean_auc"],
        "n_test": len(y_test),
        "n_val": len(val) if val is not None else 0,
        "labels": labels,
    }


def run_clinical(model, tokenizer, preprocess, suite, datasets, results, *, device, opts) -> dict:
    """The protocol for every evaluated multi-label dataset of the run."""
    ok = {r["name"]: r for r in results if r.get("status") == "ok"}
    return {
        "datasets": [
            clinical_dataset(model, tokenizer, preprocess, suite, ds, ok[ds.name], device=device, opts=opts)
            for ds in datasets
            if ds.multilabel and ds.name in ok
        ]
    }
