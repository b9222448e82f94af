"""Linear probe on frozen image features, using the few-shot engineer's
:func:`medclip.fewshot.methods.linear_probe.fit_linear_probe` (logistic regression, C chosen on a validation split).

A dataset takes part when its suite entry names ``probe_train`` and ``probe_val`` (same layout and classes as
the dataset); the dataset's own evaluation split is the test set.
"""

from __future__ import annotations

import numpy as np
import torch

from .data import MissingDatasetError, resolve_items
from .evaluate import EvalOptions, encode_images, limit


def linear_probe(model, preprocess, suite, ds, *, device, opts: EvalOptions, max_samples: int | None = 4000) -> dict:
    """Fit on ``probe_train``, choose C on ``probe_val``, report accuracy on the dataset's own split."""
    from medclip.fewshot.methods.linear_probe import fit_linear_probe

    if not ds.probe_train or not ds.probe_val or ds.multilabel:
        return {"name": ds.name, "status": "skipped", "message": "no probe_train/probe_val in the suite"}
    try:
        splits = {
            k: limit(resolve_items(suite, ds, p), max_samples, opts.seed)
            for k, p in (("train", ds.probe_train), ("val", ds.probe_val), ("test", None))
        }
    except MissingDatasetError as e:
        return {"name": ds.name, "status": "skipped", "message": str(e)}
    dev = torch.device(device)
    feats = {
        k: encode_images(model, preprocess, it.sources, device=dev, opts=opts).cpu().numpy() for k, it in splits.items()
    }
    probe = fit_linear_probe(feats["train"], splits["train"].labels, feats["val"], splits["val"].labels, seed=opts.seed)
    proba = probe.predict_proba(feats["test"])
    pred = np.asarray(probe.classes_)[proba.argmax(1)]
    return {
        "name": ds.name,
        "status": "ok",
        "C": float(probe.C),
        "val_accuracy": float(probe.val_accuracy),
        "accuracy": float(np.mean(pred == splits["test"].labels)),
        "n_train": len(splits["train"]),
        "n_val": len(splits["val"]),
        "n_test": len(splits["test"]),
    }
