"""KgCoOp (Yao et al., CVPR'23): CoOp plus a pull toward the frozen zero-shot class features."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..learner import PromptLearner, PromptMethod, prompt_kwargs, section_kwargs
from ..losses import kg_loss
from ..registry import register_method


class KgCoOp(PromptLearner):
    """``L = CE + W·(1 − mean_c cos(w_c, w0_c))`` (``distance="squared_l2"`` doubles the term).

    Creates no parameter besides ``ctx`` (P17). The teacher ``w0`` ("a photo of a {c}." unless
    ``anchor_weights`` gives another zero-shot classifier, e.g. a prompt ensemble) is computed once in eval
    mode under no_grad.
    """

    name = "kgcoop"

    def __init__(
        self,
        model,
        tokenizer,
        classnames,
        *,
        weight: float = 8.0,
        distance: str = "one_minus_cos",
        anchor_weights: torch.Tensor | None = None,
        **kwargs,
    ) -> None:
        super().__init__(model, tokenizer, classnames, **kwargs)
        self.weight, self.distance = float(weight), distance
        kg_loss(self.text.prefix.new_zeros(1, 2), self.text.prefix.new_ones(1, 2), distance)  # validate name
        self._register_zero_shot(anchor_weights)

    def loss(self, f, y):
        z, w = self.logits_and_weights(f)
        ce = F.cross_entropy(z, y)
        kg = kg_loss(w, self.w0, self.distance)
        return {"loss": ce + self.weight * kg, "ce": ce, "kg": kg}


@dataclass
class KgCoOpCfg:
    weight: float = 8.0  # W
    distance: str = "one_minus_cos"  # one_minus_cos | squared_l2 (= 2x for unit vectors)


@register_method(
    "kgcoop", cost=70, prompt_learner=True, uses_prior=True, base_to_novel=True, section="kgcoop", config=KgCoOpCfg
)
class KgCoOpMethod(PromptMethod):
    """KgCoOp: the zero-shot prior (``cfg.zs_prior``) is the anchor."""

    def build(self, cfg, model, tokenizer, classnames, *, bank=None, seed=0, prior_weights=None) -> KgCoOp:
        return KgCoOp(
            model,
            tokenizer,
            classnames,
            anchor_weights=prior_weights,
            **section_kwargs(cfg, "kgcoop"),
            **prompt_kwargs(cfg, seed),
        )
