"""``vmfcoop_ours``: our own vMF-anchored prompt learner (spec §5.6). NOT a reproduction of vMFCoOp.

Only the vMFCoOp abstract is public, so every formula here is our design: per-class vMF anchors
``(μ_c, κ_c)`` fitted to LLM description features ("unified semantic anchors"), a κ-weighted anchor loss,
a prompt→anchor spherical contrastive loss and a symmetric image↔prompt cross-entropy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..bank import encode_texts, select_bank
from ..learner import PromptLearner, PromptMethod, prompt_kwargs, require_bank, section_kwargs
from ..registry import register_method
from ..vmf import fit_vmf

SCE_MODES = ("clip", "wang2019")


def semantic_anchor_loss(w, mu, kappa, weighting: str = "kappa") -> torch.Tensor:
    """``L_SA = (1/C) Σ_c (κ_c/κ̄)(1 − μ_cᵀ w_c)`` (``uniform`` weighting sets every weight to 1)."""
    w = F.normalize(w.float(), dim=-1)
    weight = kappa.float() / kappa.float().mean() if weighting == "kappa" else torch.ones_like(kappa).float()
    if weighting not in ("kappa", "uniform"):
        raise ValueError(f"anchor_weighting must be kappa or uniform, got {weighting!r}")
    return (weight * (1 - (mu.float() * w).sum(-1))).mean()


def spherical_contrastive_loss(w, mu, tau: float = 0.07) -> torch.Tensor:
    """Prompt→anchor InfoNCE: ``−(1/C) Σ_c log softmax_{c'}(μ_{c'}ᵀ w_c / τ)_c``."""
    w = F.normalize(w.float(), dim=-1)
    logits = w @ mu.float().t() / tau
    return F.cross_entropy(logits, torch.arange(len(w), device=w.device))


def symmetric_ce_loss(
    z: torch.Tensor,
    y: torch.Tensor,
    mode: str = "clip",
    *,
    alpha: float = 1.0,
    beta: float = 1.0,
    A: float = -4.0,
) -> dict[str, torch.Tensor]:
    """Symmetric cross-entropy over logits ``z (B, C)``.

    ``clip``: ``½(CE(z, y) + L_t2i)`` where ``L_t2i`` averages, over the classes present in the batch, the
    cross-entropy of each class column (softmax over images) against a uniform target on that class's
    images. ``wang2019``: ``α·CE + β·RCE`` with ``RCE = −A·(1 − p_y)`` (Wang et al., 2019).
    """
    z = z.float()
    ce = F.cross_entropy(z, y)
    if mode == "clip":
        present = torch.unique(y)
        logp = F.log_softmax(z[:, present], dim=0)  # softmax over images per class column
        q = (y.unsqueeze(1) == present.unsqueeze(0)).float()
        q = q / q.sum(0, keepdim=True)
        t2i = -(q * logp).sum(0).mean()
        return {"sce": 0.5 * (ce + t2i), "i2t": ce, "t2i": t2i}
    if mode == "wang2019":
        p_y = F.softmax(z, -1).gather(1, y[:, None]).squeeze(1)
        rce = (-A * (1 - p_y)).mean()
        return {"sce": alpha * ce + beta * rce, "i2t": ce, "rce": rce}
    raise ValueError(f"sce_mode must be one of {SCE_MODES}, got {mode!r}")


def fit_anchors(features_per_class: list[torch.Tensor], newton_steps: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-class vMF ``(μ (C, d), κ (C,))`` from unit-norm description features (float64 fit)."""
    mus, kappas = [], []
    for feats in features_per_class:
        mu, kappa = fit_vmf(feats.double().cpu().numpy(), newton_steps)
        mus.append(mu)
        kappas.append(kappa)
    return torch.tensor(np.stack(mus), dtype=torch.float32), torch.tensor(kappas, dtype=torch.float32)


class VmfCoOpOurs(PromptLearner):
    """Our vMF-anchored CoOp: ``L = L_SCE + λ_SA·L_SA + λ_SC·L_SC`` (spec §5.6; not the paper's method).

    Args:
        bank: ``{classname: [descriptions]}`` (several LLM banks may be concatenated per class).
        lambda_sa, lambda_sc, tau_sc, sce_mode, anchor_weighting, dedupe, newton_steps: spec §5.6.
    """

    name = "vmfcoop_ours"

    def __init__(
        self,
        model,
        tokenizer,
        classnames,
        *,
        bank: dict[str, list[str]],
        lambda_sa: float = 1.0,
        lambda_sc: float = 0.5,
        tau_sc: float = 0.07,
        sce_mode: str = "clip",
        anchor_weighting: str = "kappa",
        dedupe: bool = True,
        newton_steps: int = 2,
        **kwargs,
    ) -> None:
        super().__init__(model, tokenizer, classnames, **kwargs)
        if sce_mode not in SCE_MODES or anchor_weighting not in ("kappa", "uniform"):
            raise ValueError(f"bad sce_mode {sce_mode!r} or anchor_weighting {anchor_weighting!r}")
        rows = select_bank(bank, self.classnames, None, dedupe=dedupe)
        feats = [encode_texts(model, tokenizer, row) for row in rows]
        mu, kappa = fit_anchors(feats, newton_steps)
        self.register_buffer("mu", F.normalize(mu, dim=-1).to(self.scale.device), persistent=False)
        self.register_buffer("kappa", kappa.to(self.scale.device), persistent=False)
        self.lambda_sa, self.lambda_sc, self.tau_sc = float(lambda_sa), float(lambda_sc), float(tau_sc)
        self.sce_mode, self.anchor_weighting = sce_mode, anchor_weighting

    def loss(self, f, y):
        z, w = self.logits_and_weights(f)
        sce = symmetric_ce_loss(z, y, self.sce_mode)
        sa = semantic_anchor_loss(w, self.mu, self.kappa, self.anchor_weighting)
        sc = spherical_contrastive_loss(w, self.mu, self.tau_sc)
        total = sce["sce"] + self.lambda_sa * sa + self.lambda_sc * sc
        return {"loss": total, "ce": sce["i2t"], "sce": sce["sce"], "sa": sa, "sc": sc}


@dataclass
class VmfCfg:
    lambda_sa: float = 1.0
    lambda_sc: float = 0.5
    tau_sc: float = 0.07
    sce_mode: str = "clip"  # clip | wang2019
    anchor_weighting: str = "kappa"  # kappa | uniform
    dedupe: bool = True
    newton_steps: int = 2


@register_method(
    "vmfcoop_ours", cost=100, prompt_learner=True, uses_bank=True, base_to_novel=True, section="vmf", config=VmfCfg
)
class VmfCoOpOursMethod(PromptMethod):
    """vmfcoop_ours: needs a prompt bank; settings in ``cfg.vmf``."""

    def build(self, cfg, model, tokenizer, classnames, *, bank=None, seed=0, prior_weights=None) -> VmfCoOpOurs:
        return VmfCoOpOurs(
            model,
            tokenizer,
            classnames,
            bank=require_bank(bank, cfg.method),
            **section_kwargs(cfg, "vmf"),
            **prompt_kwargs(cfg, seed),
        )
