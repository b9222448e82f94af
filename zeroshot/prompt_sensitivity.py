"""How much of a zero-shot number is prompt choice: per-template accuracy, spread, name-only vs ensemble.

For every single-label dataset whose classes use templates: accuracy (with its bootstrap CI) of the
classifier built from each template alone (class name and synonyms, averaged), the spread (best - worst)
with the best and worst template, the name-only classifier (class names x all templates, no synonyms), and
the suite's full synonym ensemble; name-only vs ensemble is tested head to head on the same images
(McNemar's exact test and the paired bootstrap of the accuracy difference). Image features come from the
run's feature cache, so nothing is re-encoded.
"""

from __future__ import annotations

import numpy as np
import torch

from .classifier import expand_prompts
from .data import MissingDatasetError, resolve_items
from .evaluate import encode_images, limit, text_classifier
from .stats import wmetrics as wm
from .stats.bootstrap import BootstrapConfig, bootstrap_ci
from .stats.paired import mcnemar_exact, paired_bootstrap


def _acc(feats: torch.Tensor, text: torch.Tensor, y: np.ndarray) -> np.ndarray:
    return ((feats @ text.to(feats.device).T).argmax(1).cpu().numpy() == y).astype(np.float64)


def dataset_sensitivity(model, tokenizer, preprocess, suite, ds, *, device, opts) -> dict:
    """Per-template / name-only / ensemble accuracies of one dataset (see the module docstring)."""
    if ds.multilabel or not ds.templates or any(c.prompts for c in ds.classes):
        return {"name": ds.name, "status": "skipped", "message": "multi-label or explicit per-class prompts"}
    try:
        items = limit(resolve_items(suite, ds), opts.max_samples, opts.seed)
    except MissingDatasetError as e:
        return {"name": ds.name, "status": "skipped", "message": str(e)}
    cfg = opts.bootstrap or BootstrapConfig()
    feats = encode_images(model, preprocess, items.sources, device=torch.device(device), opts=opts)
    y = np.asarray(items.labels)
    n = len(y)

    def score(prompts: list[list[str]]) -> tuple[np.ndarray, dict]:
        c = _acc(feats, text_classifier(model, tokenizer, prompts, device=device, cache=opts.cache), y)
        return c, bootstrap_ci(lambda w: wm.mean(w, c), n, cfg)

    per_template = []
    for t in ds.templates:
        _, ci = score([expand_prompts([c.name, *c.synonyms], [t]) for c in ds.classes])
        per_template.append({"template": t, "accuracy": ci["estimate"], "ci": ci})
    name_c, name_ci = score([expand_prompts([c.name], ds.templates) for c in ds.classes])
    ens_c, ens_ci = score([expand_prompts([c.name, *c.synonyms], ds.templates) for c in ds.classes])
    accs = [p["accuracy"] for p in per_template]
    best, worst = int(np.argmax(accs)), int(np.argmin(accs))
    return {
        "name": ds.name,
        "status": "ok",
        "n": n,
        "per_template": per_template,
        "spread": accs[best] - accs[worst],
        "best_template": ds.templates[best],
        "worst_template": ds.templates[worst],
        "name_only": name_ci,
        "ensemble": ens_ci,
        "name_only_vs_ensemble": {
            "mcnemar": mcnemar_exact(name_c > 0, ens_c > 0),
            "bootstrap": paired_bootstrap(lambda w: wm.mean(w, name_c), lambda w: wm.mean(w, ens_c), n, cfg),
        },
    }


def run_prompt_sensitivity(model, tokenizer, suite, datasets, results, *, device, opts, preprocess=None) -> dict:
    """:func:`dataset_sensitivity` for every evaluated, non-shifted dataset."""
    if preprocess is None:
        from .classifier import eval_transform

        preprocess = eval_transform(model)
    ok = {r["name"] for r in results if r.get("status") == "ok"}
    return {
        "datasets": [
            dataset_sensitivity(model, tokenizer, preprocess, suite, ds, device=device, opts=opts)
            for ds in datasets
            if ds.name in ok and not ds.shift_of
        ]
    }
