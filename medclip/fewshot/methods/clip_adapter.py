"""CLIP-Adapter (Gao et al.): a residual bottleneck MLP on image features, zero-shot text classifier."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..engine import optim_kwargs, train_learner
from ..head import FeatureHead
from ..learner import frozen_scale, prior_weights
from ..registry import FewShotMethod, FitInputs, Predictor, register_method


class ClipAdapter(FeatureHead):
    """``A = Linear(d→d/r) → ReLU → Linear(d/r→d) → ReLU`` (no biases), mixed with the input feature.

    ``variant="biomedcoop"``: ``f' = α·A(f) + (1−α)·f`` on the normalized feature, no renormalization.
    ``variant="original"``: ``f' = normalize(α·A(g) + (1−α)·g)`` on the feature as given (pass
    unnormalized features for the paper's behaviour). Logits ``s·f'·Wᵀ`` with the frozen zero-shot W.

    Args:
        text_weights: ``(C, d)`` unit-norm zero-shot class features.
        scale: ``exp(logit_scale)`` of the model.
        alpha: residual ratio α.
        reduction: bottleneck factor r.
        variant: ``biomedcoop`` or ``original``.
    """

    name = "clip_adapter"

    def __init__(
        self,
        text_weights: torch.Tensor,
        scale: torch.Tensor | float,
        *,
        alpha: float = 0.5,
        reduction: int = 4,
        variant: str = "biomedcoop",
    ) -> None:
        super().__init__(text_weights, scale)
        if variant not in ("biomedcoop", "original"):
            raise ValueError(f"variant must be biomedcoop or original, got {variant!r}")
        d = text_weights.shape[1]
        self.adapter = nn.Sequential(
            nn.Linear(d, d // reduction, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(d // reduction, d, bias=False),
            nn.ReLU(inplace=True),
        )
        self.alpha, self.variant = float(alpha), variant

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        f = f.float()
        if self.variant == "biomedcoop":
            f = F.normalize(f, dim=-1)
            mixed = self.alpha * self.adapter(f) + (1 - self.alpha) * f
        else:
            mixed = F.normalize(self.alpha * self.adapter(f) + (1 - self.alpha) * f, dim=-1)
        return self.scale * mixed @ self.text_weights.t()

    @torch.no_grad()
    def predict_logits(self, feats: torch.Tensor) -> torch.Tensor:
        self.set_mode(False)
        return self(feats)


@dataclass
class ClipAdapterCfg:
    variant: str = "biomedcoop"  # biomedcoop (α 0.5, normalized input) | original (α 0.2, unnormalized)
    alpha: float = 0.5
    reduction: int = 4


def _head(cfg, text_weights, scale) -> ClipAdapter:
    a = cfg.clip_adapter
    return ClipAdapter(text_weights, scale, alpha=a.alpha, reduction=a.reduction, variant=a.variant)


@register_method(
    "clip_adapter", cost=10, uses_prior=True, base_to_novel=True, section="clip_adapter", config=ClipAdapterCfg
)
class ClipAdapterMethod(FewShotMethod):
    """CLIP-Adapter over the zero-shot prior, trained by the shared loop; transfers with new class weights."""

    trainable = ("adapter.*",)

    def fit(self, inp: FitInputs) -> Predictor:
        head = _head(inp.cfg, inp.prior, inp.scale)
        hist = train_learner(head, inp.source, inp.labels, seed=inp.seed, **optim_kwargs(inp.cfg))
        return Predictor(head.predict_logits, {"final_loss": hist[-1]}, head)

    def transfer(self, predictor, cfg, model, tokenizer, classnames, class_prompts=None) -> Predictor:
        new = _head(cfg, prior_weights(cfg, model, tokenizer, classnames, class_prompts), frozen_scale(model))
        new.load_state_dict(predictor.module.state_dict(), strict=True)
        return Predictor(new.predict_logits, dict(predictor.info), new)
