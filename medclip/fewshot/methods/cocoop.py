"""CoCoOp (Zhou et al., CVPR'22): an image-conditioned bias π(f) added to every context token."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..learner import PromptLearner, PromptMethod, prompt_kwargs
from ..registry import register_method


class CoCoOp(PromptLearner):
    """Meta-Net ``Linear(d→d/16) → ReLU → Linear(d/16→D)``; one prompt set per image (B·C encodings).

    Args:
        chunk_size: text sequences per forward inside :meth:`SplicedTextEncoder.encode_per_image`.
        **kwargs: :class:`PromptLearner` arguments (CSC is not supported).
    """

    name = "cocoop"

    def __init__(self, model, tokenizer, classnames, *, chunk_size: int | None = 512, **kwargs) -> None:
        if kwargs.get("csc"):
            raise ValueError("CoCoOp uses a unified context (csc must be false)")
        super().__init__(model, tokenizer, classnames, **kwargs)
        d = _embed_dim(model)
        hidden = max(1, d // 16)
        self.meta_net = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, self.text.D))
        self.chunk_size = chunk_size

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        f = F.normalize(f.float(), dim=-1)
        bias = self.meta_net(f.to(self.meta_net[0].weight.dtype))  # (B, D)
        ctx_b = self.ctx.unsqueeze(0) + bias.unsqueeze(1)  # (B, n_ctx, D)
        w = F.normalize(self.text.encode_per_image(ctx_b, self.chunk_size).float(), dim=-1)  # (B, C, d)
        return self.scale * torch.einsum("bd,bcd->bc", f, w)

    @torch.no_grad()
    def predict_logits(self, feats: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
        return super().predict_logits(feats, batch_size=batch_size)


def _embed_dim(model) -> int:
    proj = getattr(model, "text_projection", None)
    if isinstance(proj, torch.Tensor):
        return int(proj.shape[1])
    if isinstance(proj, nn.Linear):
        return int(proj.out_features)
    text = getattr(model, "text", None)
    if text is not None and hasattr(text, "output_dim"):
        return int(text.output_dim)
    raise ValueError("cannot infer the joint embedding dimension of this model")


@register_method("cocoop", cost=200, prompt_learner=True, base_to_novel=True, test_cost="per_image")
class CoCoOpMethod(PromptMethod):
    """CoCoOp: uses ``prompt.chunk_size``; transfers with its Meta-Net."""

    trainable = ("ctx", "meta_net.*")

    def build(self, cfg, model, tokenizer, classnames, *, bank=None, seed=0, prior_weights=None) -> CoCoOp:
        return CoCoOp(model, tokenizer, classnames, chunk_size=cfg.prompt.chunk_size, **prompt_kwargs(cfg, seed))

    def transfer_learner(self, cfg, model, tokenizer, classnames, **kw) -> CoCoOp:
        return CoCoOp(model, tokenizer, classnames, chunk_size=cfg.prompt.chunk_size, **kw)
