"""ProGrad (Zhu et al., ICCV'23): only apply the part of the CE gradient that does not fight the teacher."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..learner import PromptLearner, PromptMethod, prompt_kwargs, section_kwargs
from ..losses import prograd_kl, prograd_project
from ..registry import register_method


class ProGrad(PromptLearner):
    """CoOp whose CE gradient is projected against the gradient of a KL to the frozen zero-shot model.

    The teacher is the **frozen zero-shot model** ("a photo of a {c}.", or the classifier ``teacher_weights``
    built from other prompts; eval mode, no grad; P1), not the prompted model. With a word init and the
    template teacher the two agree at step 0, so the KL gradient is zero and the guard of
    :func:`prograd_project` leaves the CE gradient unchanged (P19).
    """

    name = "prograd"

    def __init__(
        self,
        model,
        tokenizer,
        classnames,
        *,
        lam: float = 1.0,
        T: float = 1.0,
        teacher_weights: torch.Tensor | None = None,
        **kwargs,
    ) -> None:
        super().__init__(model, tokenizer, classnames, **kwargs)
        self.lam, self.T = float(lam), float(T)
        self._register_zero_shot(teacher_weights)

    def teacher_logits(self, f: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.scale * F.normalize(f.float(), dim=-1) @ self.w0.t()

    def loss(self, f, y):
        z = self(f)
        ce = F.cross_entropy(z, y)
        kl = prograd_kl(z, self.teacher_logits(f), self.T)
        return {"loss": ce, "ce": ce, "kl": kl}

    def backward(self, out, scaler=None) -> None:
        params = [p for p in self.parameters() if p.requires_grad]
        ce, kl = out["ce"], out["kl"]
        if scaler is not None:
            ce, kl = scaler.scale(ce), scaler.scale(kl)
        g = torch.autograd.grad(ce, params, retain_graph=True, allow_unused=True)
        h = torch.autograd.grad(kl, params, allow_unused=True)
        for p, gi, hi in zip(params, g, h):
            if gi is None:
                continue
            new = gi if hi is None else prograd_project(gi, hi, self.lam)
            p.grad = new.detach().clone() if p.grad is None else p.grad + new.detach()


@dataclass
class ProGradCfg:
    lam: float = 1.0  # λ of the projection
    T: float = 1.0  # distillation temperature


@register_method(
    "prograd", cost=80, prompt_learner=True, uses_prior=True, base_to_novel=True, section="prograd", config=ProGradCfg
)
class ProGradMethod(PromptMethod):
    """ProGrad: the zero-shot prior (``cfg.zs_prior``) is the teacher."""

    def build(self, cfg, model, tokenizer, classnames, *, bank=None, seed=0, prior_weights=None) -> ProGrad:
        return ProGrad(
            model,
            tokenizer,
            classnames,
            teacher_weights=prior_weights,
            **section_kwargs(cfg, "prograd"),
            **prompt_kwargs(cfg, seed),
        )
