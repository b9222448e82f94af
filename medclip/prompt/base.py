"""Common machinery of the CoOp-family learners: context parameter, frozen scale, modes, losses-as-dicts.

A learner is an ``nn.Module`` over *frozen, L2-normalized image features* (the image tower never runs
inside a learner, so features can be cached). Its contract with the training loop:

* ``forward(f) -> (B, C)`` logits ``s·f·wᵀ`` in float32;
* ``loss(f, y) -> dict`` with ``"loss"`` (the total) and named components;
* ``backward(out, scaler)`` puts gradients on the trainable parameters (ProGrad overrides it);
* ``set_mode(training)`` sets every train/eval flag explicitly (spec §3.7).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .bank import encode_texts
from .splice import SplicedTextEncoder

ZS_TEMPLATE = "a photo of a {}."


def frozen_scale(model: nn.Module) -> torch.Tensor:
    """``exp(logit_scale)`` of the model as a float32 scalar tensor (never hard-coded, P21)."""
    return model.logit_scale.detach().float().exp().reshape(())


@torch.no_grad()
def zero_shot_weights(model, tokenizer, classnames: Sequence[str], template: str = ZS_TEMPLATE) -> torch.Tensor:
    """Unit-norm ``(C, d)`` text features of ``template.format(c)`` from the frozen tower in eval mode."""
    return encode_prompts_eval(model, tokenizer, [[template.format(c)] for c in classnames])


@torch.no_grad()
def encode_prompts_eval(model, tokenizer, class_prompts: Sequence[Sequence[str]]) -> torch.Tensor:
    """Class embeddings ``(C, d)``: each class's prompts encoded in eval mode, L2-normalized, averaged and
    renormalized (the same ensemble rule as ``medclip.zeroshot_head.build_text_classifier``), memoized."""
    flat = [p for prompts in class_prompts for p in prompts]
    if any(isinstance(p, str) or len(p) == 0 for p in class_prompts):
        raise ValueError("every class needs at least one prompt")
    feats = encode_texts(model, tokenizer, flat)
    out, i = [], 0
    for prompts in class_prompts:
        out.append(feats[i : i + len(prompts)].mean(0))
        i += len(prompts)
    return F.normalize(torch.stack(out), dim=-1).to(next(model.parameters()).device)


class PromptLearner(nn.Module):
    """CoOp: learnable context, cross-entropy on ``s·f·wᵀ`` (base class of the CoOp family).

    Args:
        model: frozen CLIP-style model (open_clip ``CLIP`` or ``CustomTextCLIP`` with an HF text tower).
        tokenizer: its tokenizer.
        classnames: class names (label order).
        n_ctx, ctx_init, position, csc: splice settings (:class:`SplicedTextEncoder`).
        text_dropout: run the text tower in train mode while training (dropout on).
        seed: seed of the random context init.
    """

    name = "coop"

    def __init__(
        self,
        model: nn.Module,
        tokenizer,
        classnames: Sequence[str],
        *,
        n_ctx: int | None = None,
        ctx_init: str | None = "a photo of a",
        position: str = "end",
        csc: bool = False,
        text_dropout: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.classnames = list(classnames)
        object.__setattr__(self, "model", model)
        object.__setattr__(self, "tokenizer", tokenizer)
        self.text = SplicedTextEncoder(
            model, tokenizer, classnames, n_ctx=n_ctx, ctx_init=ctx_init, position=position, csc=csc
        )
        gen = torch.Generator().manual_seed(seed)
        self.ctx = nn.Parameter(self.text.init_ctx(gen).to(self.text.prefix.device))
        self.register_buffer("scale", frozen_scale(model), persistent=False)
        self.text_dropout = bool(text_dropout)

    def _register_zero_shot(self, weights: torch.Tensor | None) -> None:
        """Buffer ``w0``: unit-norm ``weights`` (a zero-shot classifier), default "a photo of a {c}."."""
        w0 = zero_shot_weights(self.model, self.tokenizer, self.classnames) if weights is None else weights
        self.register_buffer("w0", F.normalize(w0.float(), dim=-1), persistent=False)

    # -- modes ----------------------------------------------------------------------------------------
    def set_mode(self, training: bool) -> None:
        """Learner heads follow ``training``; the text tower runs dropout only if ``text_dropout``."""
        self.train(training)
        self.text.set_dropout(training and self.text_dropout)

    # -- forward --------------------------------------------------------------------------------------
    def class_features(self) -> torch.Tensor:
        """Unit-norm prompted class features ``(C, d)`` in float32."""
        return F.normalize(self.text.encode(self.ctx).float(), dim=-1)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.scale * F.normalize(f.float(), dim=-1) @ self.class_features().t()

    def loss(self, f: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        ce = F.cross_entropy(self(f), y)
        return {"loss": ce, "ce": ce}

    def backward(self, out: dict[str, torch.Tensor], scaler=None) -> None:
        loss = out["loss"]
        (scaler.scale(loss) if scaler is not None else loss).backward()

    @torch.no_grad()
    def predict_logits(self, feats: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """Evaluation logits in eval mode, in batches."""
        self.set_mode(False)
        return torch.cat([self(feats[i : i + batch_size]) for i in range(0, len(feats), batch_size)])


class CoOp(PromptLearner):
    """CoOp (Zhou et al., IJCV'22): unified or class-specific context; end / middle / front."""

    name = "coop"
