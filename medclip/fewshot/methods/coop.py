"""CoOp (Zhou et al., IJCV'22): learnable context words, cross-entropy (the learner is :class:`CoOp`)."""

from __future__ import annotations

from ..learner import CoOp, PromptMethod, prompt_kwargs
from ..registry import register_method


@register_method("coop", cost=60, prompt_learner=True, base_to_novel=True)
class CoOpMethod(PromptMethod):
    """CoOp: settings in ``cfg.prompt`` and ``cfg.optim`` only."""

    def build(self, cfg, model, tokenizer, classnames, *, bank=None, seed=0, prior_weights=None) -> CoOp:
        return CoOp(model, tokenizer, classnames, **prompt_kwargs(cfg, seed))
