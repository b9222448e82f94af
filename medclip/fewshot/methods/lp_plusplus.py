"""LP++ (Huang et al., CVPR'24): a linear probe blended with the zero-shot text classifier (spec §5.9).

Logits ``z = f·W_vᵀ + b + α ⊙ (f·W_tᵀ)`` on L2-normalized image features f, with visual weights W_v (C, d),
bias b (C), frozen text weights W_t (C, d) and a per-class blending vector α (C).

Medclip's reading of the brief, each choice a constructor argument:

* W_v starts at the class centroids (mean of the unit support features of each class), b at 0;
* α starts at ``alpha_init_scale / K · diag(M·W_tᵀ)`` with M the centroid matrix (the text–centroid
  similarity of each class, ×250/K by default; K = support images per class);
* full-batch training for ``epochs`` epochs: W_v and b by SGD (momentum 0.9) at
  ``lr_v = w_lr_factor · N / λ_max(FᵀF)`` (4N/λ_max by default), α by a plain gradient step every
  ``alpha_every`` epochs at ``lr_α = N / (4 · max_c Σ_n (f_n·t_c)²)``;
* the state with the best validation accuracy (the initial state included) is kept (ties: the earliest).

The spec leaves the loss reduction and whether α has momentum open; here the loss is the mean
cross-entropy and α takes plain gradient steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..registry import FewShotMethod, FitInputs, Predictor, register_method
from ..valsplit import ValSplit, require_val


class LPPlusPlus(nn.Module):
    """The LP++ head; :func:`fit_lp_plusplus` trains it."""

    name = "lp_plusplus"

    def __init__(self, feats: torch.Tensor, labels: torch.Tensor, text_weights: torch.Tensor, alpha_init_scale=250.0):
        super().__init__()
        C = text_weights.shape[0]
        f = F.normalize(feats.float(), dim=-1)
        counts = torch.bincount(labels, minlength=C).clamp_min(1).float()
        centroids = torch.zeros(C, f.shape[1]).index_add_(0, labels, f) / counts[:, None]
        k = float(counts.mean())  # shots per class
        self.visual = nn.Parameter(centroids.clone())
        self.bias = nn.Parameter(torch.zeros(C))
        self.register_buffer("text_weights", F.normalize(text_weights.float(), dim=-1).clone())
        self.alpha = nn.Parameter(alpha_init_scale / k * (centroids * self.text_weights).sum(-1))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        f = F.normalize(f.float(), dim=-1)
        return f @ self.visual.t() + self.bias + self.alpha * (f @ self.text_weights.t())

    @torch.no_grad()
    def predict_logits(self, feats: torch.Tensor) -> torch.Tensor:
        return self(feats)


def lp_plusplus_step_sizes(feats: torch.Tensor, text_weights: torch.Tensor, w_lr_factor: float = 4.0):
    """``(lr_v, lr_α)`` of the brief: ``w_lr_factor·N/λ_max(FᵀF)`` and ``N/(4·max_c Σ_n (f_n·t_c)²)``."""
    f = F.normalize(feats.double(), dim=-1)
    n = f.shape[0]
    lam = float(torch.linalg.eigvalsh(f.t() @ f).max())
    sims = f @ F.normalize(text_weights.double(), dim=-1).t()
    return w_lr_factor * n / lam, n / (4.0 * float((sims**2).sum(0).max()))


def fit_lp_plusplus(
    feats: torch.Tensor,
    labels: torch.Tensor,
    text_weights: torch.Tensor,
    val: ValSplit,
    *,
    epochs: int = 300,
    alpha_every: int = 10,
    momentum: float = 0.9,
    alpha_init_scale: float = 250.0,
    w_lr_factor: float = 4.0,
) -> tuple[LPPlusPlus, dict]:
    """Train LP++ full-batch on ``feats (N, d)``; return the best-validation head and what was selected."""
    require_val(val)
    labels = labels.long()
    head = LPPlusPlus(feats, labels, text_weights, alpha_init_scale)
    f = F.normalize(feats.float(), dim=-1)
    lr_v, lr_a = lp_plusplus_step_sizes(feats, text_weights, w_lr_factor)
    opt = torch.optim.SGD([head.visual, head.bias], lr=lr_v, momentum=momentum)

    def val_acc() -> float:
        with torch.no_grad():
            return float((head(val.features).argmax(-1) == val.labels).float().mean())

    best = {"val_acc": val_acc(), "epoch": 0, "state": {k: v.clone() for k, v in head.state_dict().items()}}
    for epoch in range(1, epochs + 1):
        opt.zero_grad(set_to_none=True)
        head.alpha.grad = None
        loss = F.cross_entropy(head(f), labels)
        loss.backward()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"LP++: non-finite loss at epoch {epoch} (lower lp_plusplus.w_lr_factor)")
        opt.step()
        if epoch % alpha_every == 0:
            with torch.no_grad():
                head.alpha -= lr_a * head.alpha.grad
        acc = val_acc()
        if acc > best["val_acc"]:
            best = {"val_acc": acc, "epoch": epoch, "state": {k: v.clone() for k, v in head.state_dict().items()}}
    head.load_state_dict(best["state"])
    return head, {"best_epoch": best["epoch"], "val_acc": best["val_acc"], "lr_visual": lr_v, "lr_alpha": lr_a}


@dataclass
class LPPlusPlusCfg:
    epochs: int = 300  # full-batch epochs
    alpha_every: int = 10  # α takes a gradient step every this many epochs
    momentum: float = 0.9  # SGD momentum of W_v and b
    alpha_init_scale: float = 250.0  # α_c init = scale / K · (centroid_c · t_c)
    w_lr_factor: float = 4.0  # lr of W_v, b = factor · N / λ_max(FᵀF)


@register_method("lp_plusplus", cost=50, uses_prior=True, section="lp_plusplus", config=LPPlusPlusCfg)
class LPPlusPlusMethod(FewShotMethod):
    """LP++ on one augmented pass of the support features, blended with the zero-shot prior."""

    trainable = ("visual", "bias", "alpha")

    def fit(self, inp: FitInputs) -> Predictor:
        c = inp.cfg.lp_plusplus
        head, info = fit_lp_plusplus(
            inp.views[0],
            inp.labels,
            inp.prior,
            inp.val,
            epochs=c.epochs,
            alpha_every=c.alpha_every,
            momentum=c.momentum,
            alpha_init_scale=c.alpha_init_scale,
            w_lr_factor=c.w_lr_factor,
        )
        return Predictor(head.predict_logits, info, head)
