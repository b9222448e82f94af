"""Every metric of one dataset from its cosine scores: classification or multi-label, calibration
(reliability), MedMNIST's own ACC / AUC for npz datasets, bootstrap CIs and the per-modality breakdown."""

from __future__ import annotations

import numpy as np

from .data import Items
from .metrics import classification_metrics, multilabel_auc, reliability
from .stats.bootstrap import BootstrapConfig
from .stats.medmnist_metrics import medmnist_metrics, medmnist_task
from .stats.metric_cis import classification_cis, multilabel_cis
from .suites import MODALITIES, DatasetSpec


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def dataset_metrics(
    ds: DatasetSpec, items: Items, cos: np.ndarray, scale: float, bootstrap: BootstrapConfig | None = None
) -> dict:
    """All metrics of one dataset from its cosine scores (plus per-modality breakdown when asked).

    With ``bootstrap``, ``ci`` holds a percentile CI per metric (``zeroshot.stats.metric_cis``) and
    ``bootstrap`` the settings that produced them.
    """
    probs = _softmax(scale * cos.astype(np.float64))
    if ds.multilabel:
        mean, per = multilabel_auc(items.labels, cos)
        out = {"metrics": {"multilabel_auc": mean, "per_label_auc": per}, "score": mean}
        out["per_class_support"] = items.labels.sum(0).tolist()
        if bootstrap is not None:
            out["ci"] = multilabel_cis(items.labels, cos, bootstrap)
            out["score_ci"] = out["ci"]["multilabel_auc"]
            out["bootstrap"] = bootstrap.to_dict()
        if ds.layout == "npz" and ds.label_scoring == "pos_neg":  # ACC at 0.5 needs probabilities
            out["medmnist"] = medmnist_metrics(medmnist_task(True, cos.shape[1]), items.labels, cos, bootstrap)
        return out
    m = classification_metrics(items.labels, cos, probs)
    rel = reliability(items.labels, probs)
    out = {"metrics": m, "score": m[ds.metric], "reliability": rel}
    if ds.layout == "npz":  # the benchmark's own ACC / AUC (equal to accuracy / auc up to score ties)
        out["medmnist"] = medmnist_metrics(medmnist_task(False, cos.shape[1]), items.labels, probs, bootstrap)
    if bootstrap is not None:
        out["ci"] = classification_cis(items.labels, cos, probs, bootstrap)
        out["score_ci"] = out["ci"][ds.metric]
        out["bootstrap"] = bootstrap.to_dict()
    if ds.breakdown:
        mods = np.asarray(items.modalities)
        out["breakdown"] = {}
        for mod in [m for m in MODALITIES if m in set(items.modalities)]:
            sel = mods == mod
            sub = classification_metrics(items.labels[sel], cos[sel], probs[sel])
            out["breakdown"][mod] = {
                "n_samples": int(sel.sum()),
                "score": sub[ds.metric],
                **{k: sub[k] for k in ("accuracy", "balanced_accuracy", "macro_f1", "top5", "ece")},
            }
            if bootstrap is not None:
                keys = tuple(dict.fromkeys(("accuracy", "balanced_accuracy", "macro_f1", ds.metric)))
                ci = classification_cis(items.labels[sel], cos[sel], probs[sel], bootstrap, which=keys)
                out["breakdown"][mod]["ci"] = ci
                out["breakdown"][mod]["score_ci"] = ci[ds.metric]
    return out
