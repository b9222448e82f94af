"""The ``zeroshot`` row: the suite's prompt ensemble (or "a photo of a {c}."), nothing fitted."""

from __future__ import annotations

import torch.nn.functional as F

from ..learner import ZS_TEMPLATE, encode_prompts_eval, frozen_scale
from ..registry import FewShotMethod, FitInputs, Predictor, register_method


def zero_shot_predictor(model, tokenizer, classnames, class_prompts=None, scale=None) -> Predictor:
    """The zero-shot classifier: ``class_prompts`` ensembled, or "a photo of a {c}." without them."""
    scale = frozen_scale(model) if scale is None else scale
    prompts = class_prompts or [[ZS_TEMPLATE.format(c)] for c in classnames]
    w = encode_prompts_eval(model, tokenizer, prompts)
    return Predictor(lambda f: scale * F.normalize(f.float(), dim=-1) @ w.t())


@register_method("zeroshot", cost=0, uses_support=False, base_to_novel=True)
class ZeroShot(FewShotMethod):
    """Zero-shot: ignores the support set; transfers by encoding the new classes' prompts."""

    def fit(self, inp: FitInputs) -> Predictor:
        return zero_shot_predictor(inp.model, inp.tokenizer, inp.classnames, inp.class_prompts, inp.scale)

    def transfer(self, predictor, cfg, model, tokenizer, classnames, class_prompts=None) -> Predictor:
        return zero_shot_predictor(model, tokenizer, classnames, class_prompts)
