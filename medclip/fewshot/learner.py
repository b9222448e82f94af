"""Common machinery of the CoOp-family learners: context parameter, frozen scale, modes, losses-as-dicts.

A learner is an ``nn.Module`` over *frozen, L2-normalized image features* (the image tower never runs
inside a learner, so features can be cached). Its contract with the training loop:

* ``forward(f) -> (B, C)`` logits ``s·f·wᵀ`` in float32;
* ``loss(f, y) -> dict`` with ``"loss"`` (the total) and named components;
* ``backward(out, scaler)`` puts gradients on the trainable parameters (ProGrad overrides it);
* ``set_mode(training)`` sets every train/eval flag explicitly (spec §3.7).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .bank import encode_texts
from .engine import optim_kwargs, train_learner
from .registry import FewShotMethod, FitInputs, Predictor
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

    def logits_and_weights(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(z, w)``: the logits ``s·f·wᵀ`` ``(B, C)`` and the prompted class features ``w`` they use."""
        w = self.class_features()
        return self.scale * F.normalize(f.float(), dim=-1) @ w.t(), w

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.logits_and_weights(f)[0]

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


def prompt_kwargs(cfg, seed: int = 0) -> dict:
    """The :class:`PromptLearner` keyword arguments of a method config's ``prompt`` section."""
    p = cfg.prompt
    return dict(
        n_ctx=p.n_ctx,
        ctx_init=p.ctx_init or None,
        position=p.position,
        csc=p.csc,
        text_dropout=p.text_dropout,
        seed=seed,
    )


def section_kwargs(cfg, section: str) -> dict:
    """A method's config section (``cfg.<section>``, a dataclass) as the learner's keyword arguments."""
    return dataclasses.asdict(getattr(cfg, section))


class PromptMethod(FewShotMethod):
    """A CoOp-family method: ``build`` a :class:`PromptLearner`, train it with :func:`train_learner`.

    Transfers to new classes (base-to-novel) as a CoOp with the learned ``ctx`` (prompt learners infer with
    the learned prompts only); :meth:`transfer_learner` is the learner the context moves into.
    """

    trainable = ("ctx",)

    def build(self, cfg, model, tokenizer, classnames, *, bank=None, seed=0, prior_weights=None) -> PromptLearner:
        raise NotImplementedError

    def fit(self, inp: FitInputs) -> Predictor:
        learner = self.build(
            inp.cfg, inp.model, inp.tokenizer, inp.classnames, bank=inp.bank, seed=inp.seed, prior_weights=inp.prior
        )
        hist = train_learner(learner, inp.source, inp.labels, seed=inp.seed, **optim_kwargs(inp.cfg))
        return Predictor(learner.predict_logits, {"final_loss": hist[-1]}, learner)

    def transfer_learner(self, cfg, model, tokenizer, classnames, **kw) -> PromptLearner:
        return CoOp(model, tokenizer, classnames, **kw)

    def transfer(self, predictor, cfg, model, tokenizer, classnames, class_prompts=None) -> Predictor:
        if cfg.prompt.csc:
            raise ValueError("class-specific contexts cannot be transferred to new classes")
        p = cfg.prompt
        kw = dict(n_ctx=predictor.module.text.n_ctx, ctx_init=p.ctx_init or None, position=p.position)
        new = self.transfer_learner(cfg, model, tokenizer, classnames, **kw)
        new.load_state_dict(predictor.module.state_dict(), strict=True)
        return Predictor(new.predict_logits, dict(predictor.info), new)


def require_bank(bank: dict | None, method: str) -> dict:
    """``bank``, or a ValueError saying that ``method`` needs one."""
    if bank is None:
        raise ValueError(f"method {method!r} needs a prompt bank (JSON class -> descriptions)")
    return bank


def prior_weights(cfg, model, tokenizer, classnames: Sequence[str], class_prompts=None) -> torch.Tensor:
    """The zero-shot classifier ``(C, d)`` that methods build on, chosen by ``cfg.zs_prior``.

    ``template``: "a photo of a {c}." (the papers' choice). ``suite``: the ensemble of ``class_prompts`` (the
    suite's zero-shot prompts, i.e. exactly the classifier of the report's zero-shot row).
    """
    if cfg.zs_prior == "suite":
        if class_prompts is None:
            raise ValueError("zs_prior=suite needs the suite's class prompts (class_prompts)")
        if len(class_prompts) != len(classnames):
            raise ValueError(f"{len(class_prompts)} prompt lists for {len(classnames)} classes")
        return encode_prompts_eval(model, tokenizer, class_prompts)
    return zero_shot_weights(model, tokenizer, classnames)
