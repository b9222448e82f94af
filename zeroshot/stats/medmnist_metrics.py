"""ACC and AUC exactly as the MedMNIST authors' ``medmnist.Evaluator`` computes them, with bootstrap CIs.

- ``multi-label, binary-class``: AUC = mean over labels of the label's AUC; ACC = mean over labels of the
  accuracy of ``score > 0.5``.
- ``binary-class``: AUC and ACC (``score > 0.5``) of the last column, the positive class probability.
- ``multi-class`` (and ``ordinal-regression``): AUC = mean over classes of one-vs-rest AUC of the class
  probability; ACC = accuracy of the argmax.

Scores are probabilities: softmax of the logits for single-label tasks, the per-label CheXzero pair softmax
for multi-label ones.
"""

from __future__ import annotations

import numpy as np

from . import wmetrics as wm
from .bootstrap import BootstrapConfig, bootstrap_cis

TASKS = ("multi-label, binary-class", "binary-class", "multi-class", "ordinal-regression")


def _stats(task: str, y: np.ndarray, score: np.ndarray) -> dict:
    if task not in TASKS:
        raise ValueError(f"unknown MedMNIST task {task!r}; expected one of {TASKS}")
    if task == "multi-label, binary-class":
        correct = ((score > 0.5) == (y > 0)).mean(1)
        per = [c for c in range(y.shape[1]) if 0 < y[:, c].sum() < len(y)]
        return {
            "acc": lambda w: wm.mean(w, correct),
            "auc": lambda w: np.mean(np.stack([wm.binary_auc(w, y[:, c], score[:, c]) for c in per], 1), 1),
        }
    if task == "binary-class":
        correct = ((score[:, -1] > 0.5).astype(int) == y).astype(float)
        return {"acc": lambda w: wm.mean(w, correct), "auc": lambda w: wm.binary_auc(w, y == 1, score[:, -1])}
    correct = (score.argmax(1) == y).astype(float)
    classes = [c for c in range(score.shape[1]) if np.any(y == c)]
    return {
        "acc": lambda w: wm.mean(w, correct),
        "auc": lambda w: np.mean(np.stack([wm.binary_auc(w, y == c, score[:, c]) for c in classes], 1), 1),
    }


def medmnist_task(multilabel: bool, n_classes: int) -> str:
    """The MedMNIST task name of a dataset with this label structure."""
    return "multi-label, binary-class" if multilabel else ("binary-class" if n_classes == 2 else "multi-class")


def medmnist_metrics(task: str, y: np.ndarray, score: np.ndarray, cfg: BootstrapConfig | None = None) -> dict:
    """``{task, acc, auc}`` and, with ``cfg``, ``ci: {acc, auc}`` (images resampled)."""
    y, score = np.asarray(y), np.asarray(score, dtype=np.float64)
    stats = _stats(task, y, score)
    one = np.ones((1, len(y)))
    out = {"task": task, **{k: float(f(one)[0]) for k, f in stats.items()}}
    if cfg is not None:
        out["ci"] = bootstrap_cis(stats, len(y), cfg)
    return out
