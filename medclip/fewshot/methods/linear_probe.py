"""Linear probe: L2-regularized logistic regression on frozen features, with C chosen on validation.

The search follows the CLIP / CoOp protocol (spec §5.9): a coarse sweep over
``{1e6, 1e4, 1e2, 1, 1e-2, 1e-4, 1e-6}`` scored by validation accuracy, then ``n_bisect`` steps of a
binary search in log10 space around the best value. Only the training split is used to fit; the
validation split only ranks candidate values of C. Ties keep the earlier (larger-C) candidate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ..registry import FewShotMethod, FitInputs, Predictor, register_method

DEFAULT_CS = (1e6, 1e4, 1e2, 1.0, 1e-2, 1e-4, 1e-6)


@dataclass
class LinearProbe:
    """A fitted probe: ``predict_proba(x)``, ``predict(x)``, the chosen ``C`` and the search history."""

    C: float
    model: object
    val_accuracy: float
    history: list[tuple[float, float]] = field(default_factory=list)

    def predict_proba(self, x) -> np.ndarray:
        """Class probabilities ``(N, n_classes)``; columns follow ``classes_`` (sorted training labels)."""
        return self.model.predict_proba(_as_np(x))

    def predict(self, x) -> np.ndarray:
        """Predicted labels."""
        return self.model.predict(_as_np(x))

    @property
    def classes_(self) -> np.ndarray:
        return self.model.classes_


def _as_np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _fit(x, y, C: float, seed: int):
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=C, max_iter=1000, random_state=seed)
    return clf.fit(x, y)


def _checked(train_x, train_y, val_x, val_y, Cs):
    """The inputs of :func:`fit_linear_probe` as numpy arrays plus the C grid; ValueError when unusable."""
    tx, vx = _as_np(train_x), _as_np(val_x)
    ty, vy = np.asarray(_as_np(train_y), dtype=np.int64), np.asarray(_as_np(val_y), dtype=np.int64)
    if tx.ndim != 2 or vx.ndim != 2 or tx.shape[1] != vx.shape[1]:
        raise ValueError(f"features must be 2-D with equal width, got {tx.shape} and {vx.shape}")
    if len(tx) != len(ty) or len(vx) != len(vy):
        raise ValueError(f"features/labels length mismatch: {len(tx)}/{len(ty)} train, {len(vx)}/{len(vy)} val")
    if len(vx) == 0:
        raise ValueError("the validation split is empty; C cannot be chosen")
    if len(np.unique(ty)) < 2:
        raise ValueError("the training split needs at least two classes")
    grid = [float(c) for c in (Cs if Cs is not None else DEFAULT_CS)]
    if not grid or any(c <= 0 for c in grid):
        raise ValueError(f"Cs must be positive, got {grid}")
    return tx, ty, vx, vy, grid


def fit_linear_probe(
    train_x,
    train_y,
    val_x,
    val_y,
    *,
    Cs: list[float] | tuple[float, ...] | None = None,
    seed: int = 0,
    n_bisect: int = 8,
) -> LinearProbe:
    """Fit a logistic-regression probe, choosing C by validation accuracy.

    Args:
        train_x: ``(N, d)`` training features (array or tensor; normalize them beforehand if wanted).
        train_y: ``(N,)`` integer labels.
        val_x: ``(M, d)`` validation features, used only to rank values of C.
        val_y: ``(M,)`` validation labels.
        Cs: the coarse grid (default ``1e6 ... 1e-6`` in steps of 100x).
        seed: ``random_state`` of the solver.
        n_bisect: binary-search steps in log10 space after the coarse sweep (0 disables it).

    Returns:
        A :class:`LinearProbe` fitted on the training split with the chosen C.

    Raises:
        ValueError: mismatched shapes, empty splits or fewer than two training classes.
    """
    tx, ty, vx, vy, grid = _checked(train_x, train_y, val_x, val_y, Cs)
    scores: dict[float, tuple[float, object]] = {}
    history: list[tuple[float, float]] = []

    def score(logc: float) -> float:
        c = 10.0**logc
        key = round(logc, 12)
        if key not in scores:
            clf = _fit(tx, ty, c, seed)
            acc = float((clf.predict(vx) == vy).mean())
            scores[key] = (acc, clf)
            history.append((c, acc))
        return scores[key][0]

    logs = [math.log10(c) for c in grid]
    accs = [score(lc) for lc in logs]
    best_i = int(np.argmax(accs))
    best = logs[best_i]
    if n_bisect > 0 and len(logs) > 1:
        srt = sorted(logs)
        step = min(b - a for a, b in zip(srt, srt[1:])) if len(srt) > 1 else 1.0
        lo, hi = best - step, best + step
        for _ in range(n_bisect):
            left, right = (lo + best) / 2, (best + hi) / 2
            s_left, s_best, s_right = score(left), score(best), score(right)
            if s_left > s_best and s_left >= s_right:
                hi, best = best, left
            elif s_right > s_best:
                lo, best = best, right
            else:
                lo, hi = left, right
    acc, clf = scores[round(best, 12)]
    return LinearProbe(C=10.0**best, model=clf, val_accuracy=acc, history=history)


@dataclass
class LinearProbeCfg:
    Cs: list[float] = field(default_factory=lambda: [1e6, 1e4, 1e2, 1.0, 1e-2, 1e-4, 1e-6])
    n_bisect: int = 8


@register_method("linear_probe", cost=40, section="linear_probe", config=LinearProbeCfg)
class LinearProbeMethod(FewShotMethod):
    """The linear probe on one augmented pass of the support features (spec §5.9); log-probabilities out."""

    def fit(self, inp: FitInputs) -> Predictor:
        c = inp.cfg.linear_probe
        probe = fit_linear_probe(
            F.normalize(inp.views[0].float(), dim=-1),
            inp.labels,
            F.normalize(inp.val.features.float(), dim=-1),
            inp.val.labels,
            Cs=c.Cs,
            seed=inp.seed,
            n_bisect=c.n_bisect,
        )
        full = torch.full((inp.num_classes,), -1e4)

        def lp_logits(f):
            proba = torch.from_numpy(probe.predict_proba(F.normalize(f.float(), dim=-1))).float()
            out = full.repeat(len(f), 1)
            out[:, torch.as_tensor(probe.classes_)] = proba.clamp_min(1e-12).log()
            return out

        return Predictor(lp_logits, {"C": probe.C, "val_acc": probe.val_accuracy})
