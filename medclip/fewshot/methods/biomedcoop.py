"""BiomedCoOp (Koleilat et al., CVPR'25): CoOp + SCCM + KDSP with LLM prompt-bank teachers (spec §5.5)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..bank import encode_texts, select_bank
from ..learner import PromptLearner, PromptMethod, prompt_kwargs, require_bank, section_kwargs
from ..losses import kd_loss, sccm_loss
from ..registry import register_method
from ..selection import select_prompts


class BiomedCoOp(PromptLearner):
    """BiomedCoOp with a frozen text bank ``T (C, N, d)`` of LLM descriptions.

    ``L = CE(z, y) + λ_SCCM·mean((w − t_all)²) + λ_KDSP·KD(z_T ‖ z)`` where ``t_all`` is the mean of all N
    bank features per class and ``z_T`` uses the mean of the prompts kept by :func:`select_prompts` on
    this batch. Inference uses the learned prompts only.

    Args:
        bank: ``{classname: [descriptions]}``; every class needs at least ``n_prompts`` strings.
        n_prompts, lambda_sccm, lambda_kdsp, tau, selection_mode, kd_reduction, bank_dedupe: spec §5.5.
    """

    name = "biomedcoop"

    def __init__(
        self,
        model,
        tokenizer,
        classnames,
        *,
        bank: dict[str, list[str]],
        n_prompts: int = 50,
        lambda_sccm: float = 1.0,
        lambda_kdsp: float = 1.0,
        tau: float = 1.5,
        selection_mode: str = "zscore",
        kd_reduction: str = "sum_div_BC",
        bank_dedupe: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(model, tokenizer, classnames, **kwargs)
        select_prompts(torch.zeros(2), tau, selection_mode)  # validates the mode name
        kd_loss(torch.zeros(1, 2), torch.zeros(1, 2), kd_reduction)
        texts = select_bank(bank, self.classnames, n_prompts)
        C, N = len(texts), n_prompts
        T = encode_texts(model, tokenizer, [t for row in texts for t in row]).view(C, N, -1)
        self.register_buffer("bank", T, persistent=False)  # rebuilt deterministically from the bank file
        if bank_dedupe:
            uniq = select_bank(bank, self.classnames, None, dedupe=True)
            means = [encode_texts(model, tokenizer, row).mean(0) for row in uniq]
            t_all = F.normalize(torch.stack(means), dim=-1)
        else:
            t_all = F.normalize(T.mean(1), dim=-1)
        self.register_buffer("t_all", t_all, persistent=False)
        self.lambda_sccm, self.lambda_kdsp, self.tau = float(lambda_sccm), float(lambda_kdsp), float(tau)
        self.selection_mode, self.kd_reduction = selection_mode, kd_reduction

    @torch.no_grad()
    def teacher_logits(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(z_T, keep)``: logits of the selected-prompt teacher and the keep mask over the N prompts."""
        f = F.normalize(f.float(), dim=-1)
        sims = self.scale * torch.einsum("bd,cnd->bcn", f, self.bank)  # (B, C, N)
        scores = sims.max(1).values.mean(0)  # (N,)
        keep = select_prompts(scores, self.tau, self.selection_mode)
        t_sel = F.normalize(self.bank[:, keep].mean(1), dim=-1)
        return self.scale * f @ t_sel.t(), keep

    def loss(self, f, y):
        z, w = self.logits_and_weights(f)
        z_t, keep = self.teacher_logits(f)
        ce = F.cross_entropy(z, y)
        sccm = sccm_loss(w, self.t_all)
        kd = kd_loss(z, z_t, self.kd_reduction)
        total = ce + self.lambda_sccm * sccm + self.lambda_kdsp * kd
        return {"loss": total, "ce": ce, "sccm": sccm, "kd": kd, "n_kept": keep.sum().float()}


def load_reference_ctx(path: str, key: str = "prompt_learner.ctx") -> torch.Tensor:
    """The learned context of a published BiomedCoOp checkpoint (``model.pth.tar-100``; spec §5.5).

    Dassl checkpoints are ``{"state_dict": {...}, "epoch": ..., ...}``; a bare state dict is accepted too.
    Raises ``ValueError`` naming the keys when ``key`` is absent.
    """
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else {}
    for k in (key, key.removeprefix("prompt_learner."), f"module.{key}"):
        if k in state:
            return state[k].detach().float().clone()
    raise ValueError(f"{path}: no {key!r} in the checkpoint (keys: {sorted(state)[:8]})")


@dataclass
class BiomedCoOpCfg:
    n_prompts: int = 50  # N bank descriptions per class (positional templates)
    lambda_sccm: float = 1.0
    lambda_kdsp: float = 1.0
    tau: float = 1.5
    selection_mode: str = "zscore"  # zscore | reference | robust
    kd_reduction: str = "sum_div_BC"  # sum_div_BC | batchmean
    bank_dedupe: bool = False  # only affects the class means t_all


@register_method(
    "biomedcoop",
    cost=90,
    prompt_learner=True,
    uses_bank=True,
    base_to_novel=True,
    section="biomedcoop",
    config=BiomedCoOpCfg,
)
class BiomedCoOpMethod(PromptMethod):
    """BiomedCoOp: needs a prompt bank."""

    def build(self, cfg, model, tokenizer, classnames, *, bank=None, seed=0, prior_weights=None) -> BiomedCoOp:
        return BiomedCoOp(
            model,
            tokenizer,
            classnames,
            bank=require_bank(bank, cfg.method),
            **section_kwargs(cfg, "biomedcoop"),
            **prompt_kwargs(cfg, seed),
        )
