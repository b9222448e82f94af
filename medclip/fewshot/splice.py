"""Prompt splicing: learnable context vectors inserted into a frozen text tower (spec §3).

Two backends share one token layout:

* ``clip``: open_clip's causal text transformer (``CLIP``), pooled at the EOT token and multiplied by
  ``text_projection``;
* ``hf_bert``: an open_clip ``HFTextEncoder`` over a BERT-style model, fed through ``inputs_embeds`` with
  the placeholder attention mask, pooled by the tower's own pooler (CLS, CLS-last-hidden-state, mean, max)
  and projected by its ``proj`` (linear or MLP).

The placeholder text of class c is ``"<ctx words> <classname>."`` where the context words are either
``ctx_init`` or ``n_ctx`` copies of ``X``. Its frozen token embeddings give a one-row prefix (SOT/[CLS])
and a suffix (class tokens, ``.``, EOT/[SEP], pads); the learnable ``ctx`` goes in between (``end``), or
around the class tokens (``middle``/``front``), which is done with a per-class gather index so that one
batched forward serves every class. Sequences are cut after the last real token (§3.6).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

POSITIONS = ("end", "middle", "front")


def _tokenizer_pad_id(tokenizer, backend: str, model) -> int:
    if backend == "hf_bert":
        return int(model.text.config.pad_token_id)
    return 0


def text_backend(model: nn.Module) -> str:
    """``"clip"`` for open_clip's own text transformer, ``"hf_bert"`` for an ``HFTextEncoder`` tower."""
    text = getattr(model, "text", None)
    if text is not None and hasattr(text, "transformer") and hasattr(text, "pooler"):
        return "hf_bert"
    if hasattr(model, "token_embedding") and hasattr(model, "transformer"):
        return "clip"
    raise NotImplementedError(f"unsupported text tower in {type(model).__name__}")


def _context_words(n_ctx: int | None, ctx_init: str | None, n_tokens) -> tuple[int, str | None, str]:
    """``(n_ctx, ctx_init, words)``: the context length, the cleaned init and the words spliced as context
    (the init, or ``n_ctx`` placeholder ``X`` tokens); ``n_tokens(text)`` counts a text's tokens."""
    if ctx_init:
        ctx_init = ctx_init.replace("_", " ").strip()
        derived = n_tokens(ctx_init)
        if n_ctx is not None and n_ctx != derived:
            raise ValueError(f"n_ctx={n_ctx} but ctx_init {ctx_init!r} has {derived} tokens")
        return derived, ctx_init, ctx_init
    if n_ctx is None or n_ctx < 1:
        raise ValueError("n_ctx must be a positive integer when ctx_init is not given")
    words = " ".join(["X"] * n_ctx)
    if n_tokens(words) != n_ctx:
        raise ValueError("the placeholder word 'X' is not one token under this tokenizer")
    return n_ctx, ctx_init, words


class SplicedTextEncoder(nn.Module):
    """Encode one prompt per class with learnable context vectors through a frozen text tower.

    The wrapped model is frozen (``requires_grad=False`` on all its parameters) and is *not* registered as
    a submodule, so this module's ``state_dict`` holds no tower weights; every frozen tensor it derives is
    a non-persistent buffer.

    Args:
        model: an open_clip ``CLIP`` or ``CustomTextCLIP`` with an ``HFTextEncoder`` text tower.
        tokenizer: the model's tokenizer (list of strings -> ids).
        classnames: class names, one prompt per class.
        n_ctx: number of context tokens. With ``ctx_init`` it is derived from the init's token count; a
            different explicit value is an error.
        ctx_init: words initializing the context (e.g. ``"a photo of a"``), or None for random init.
        position: where the class tokens go: ``end``, ``middle`` or ``front``.
        csc: class-specific context (one context per class).
        truncate: cut sequences after the last real token (outputs are unchanged).
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer,
        classnames: Sequence[str],
        *,
        n_ctx: int | None = None,
        ctx_init: str | None = None,
        position: str = "end",
        csc: bool = False,
        truncate: bool = True,
    ) -> None:
        super().__init__()
        if position not in POSITIONS:
            raise ValueError(f"position must be one of {POSITIONS}, got {position!r}")
        if len(classnames) == 0:
            raise ValueError("classnames is empty")
        object.__setattr__(self, "model", model)  # frozen tower, deliberately not a submodule
        for p in model.parameters():
            p.requires_grad_(False)
        self.backend = text_backend(model)
        self.classnames = [str(c).replace("_", " ") for c in classnames]
        self.position, self.csc = position, bool(csc)
        pad = _tokenizer_pad_id(tokenizer, self.backend, model)
        if self.backend == "clip":
            pool = getattr(model, "text_pool_type", "argmax")
            if pool not in ("argmax", "eos"):
                raise NotImplementedError(f"CLIP text pooling {pool!r} is not supported (argmax/eos only)")
            self.eos_id = getattr(model, "text_eos_id", None) if pool == "eos" else None
        else:
            self.pooler_kind = type(model.text.pooler).__name__

        def n_tokens(text: str) -> int:
            ids = tokenizer([text])[0]
            return int((ids != pad).sum()) - 2  # without SOT/EOT or [CLS]/[SEP]

        n_ctx, ctx_init, words = _context_words(n_ctx, ctx_init, n_tokens)
        self.n_ctx, self.ctx_init = int(n_ctx), ctx_init or None
        texts = [f"{words} {name}." for name in self.classnames]
        ids = tokenizer(texts)
        if int((ids[:, -1] != pad).sum()) > 0:
            raise ValueError("a placeholder prompt fills the whole context length; shorten the class names")
        name_len = torch.tensor([n_tokens(name) for name in self.classnames])
        real = ids != pad
        last = int((real * torch.arange(ids.shape[1])).amax()) + 1
        keep_all = (not truncate) or (self.backend == "hf_bert" and self.pooler_kind == "MaxPooler")
        L = ids.shape[1] if keep_all else last
        ids = ids[:, :L]
        with torch.no_grad():
            emb = self._token_embedding()(ids.to(self._device())).float().cpu()
        self.D = emb.shape[-1]
        self.register_buffer("ids", ids, persistent=False)
        self.register_buffer("prefix", emb[:, :1].clone(), persistent=False)
        self.register_buffer("suffix", emb[:, 1 + self.n_ctx :].clone(), persistent=False)
        self.register_buffer("init_rows", emb[0, 1 : 1 + self.n_ctx].clone(), persistent=False)
        self.register_buffer("name_len", name_len, persistent=False)
        self.register_buffer("attn", (ids != pad).long(), persistent=False)
        if self.backend == "clip":
            eot = ids.argmax(-1) if self.eos_id is None else (ids == self.eos_id).int().argmax(-1)
            self.register_buffer("eot_idx", eot, persistent=False)
        self.register_buffer("perm", self._build_perm(L), persistent=False)

    # -- construction helpers -------------------------------------------------------------------------
    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _token_embedding(self) -> nn.Module:
        if self.backend == "clip":
            return self.model.token_embedding
        return self.model.text.transformer.get_input_embeddings()

    def _build_perm(self, L: int) -> torch.Tensor:
        """Per-class gather index: output position -> row of ``[prefix, ctx, suffix]``."""
        n, h, C = self.n_ctx, self.n_ctx // 2, len(self.classnames)
        perm = torch.empty(C, L, dtype=torch.long)
        ctx = list(range(1, 1 + n))
        suf = list(range(1 + n, L))
        for c in range(C):
            k = int(self.name_len[c])
            if self.position == "end":
                order = [0] + ctx + suf
            elif self.position == "middle":
                order = [0] + ctx[:h] + suf[:k] + ctx[h:] + suf[k:]
            else:
                order = [0] + suf[:k] + ctx + suf[k:]
            perm[c] = torch.tensor(order)
        return perm

    # -- public API -------------------------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return len(self.classnames)

    @property
    def ctx_shape(self) -> tuple[int, ...]:
        return (self.num_classes, self.n_ctx, self.D) if self.csc else (self.n_ctx, self.D)

    def init_ctx(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """Initial context: the ``ctx_init`` token embeddings or N(0, 0.02²) (repeated per class for CSC)."""
        if self.ctx_init:
            base = self.init_rows.clone()
            return base.unsqueeze(0).repeat(self.num_classes, 1, 1) if self.csc else base
        return torch.randn(self.ctx_shape, generator=generator) * 0.02

    def set_dropout(self, active: bool) -> None:
        """Put the text tower in train (dropout on) or eval mode; nothing else changes."""
        if self.backend == "clip":
            for m in (self.model.transformer, self.model.ln_final, self.model.token_embedding):
                m.train(active)
        else:
            self.model.text.train(active)

    def encode(self, ctx: torch.Tensor) -> torch.Tensor:
        """Unnormalized class features ``(C, d)`` for ``ctx`` of shape :attr:`ctx_shape`."""
        C = self.num_classes
        if ctx.dim() == 2:
            ctx = ctx.unsqueeze(0).expand(C, -1, -1)
        if ctx.shape != (C, self.n_ctx, self.D):
            raise ValueError(f"ctx must have shape {self.ctx_shape}, got {tuple(ctx.shape)}")
        return self._forward(ctx, torch.arange(C, device=ctx.device))

    def encode_per_image(self, ctx_b: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
        """Class features ``(B, C, d)`` with one context per image (CoCoOp); ``ctx_b`` is ``(B, n_ctx, D)``.

        The B·C sequences are encoded in chunks of at most ``chunk_size`` sequences (all at once if None).
        """
        B, C = ctx_b.shape[0], self.num_classes
        rows = ctx_b.repeat_interleave(C, dim=0)
        cls = torch.arange(C, device=ctx_b.device).repeat(B)
        step = chunk_size or rows.shape[0]
        out = [self._forward(rows[i : i + step], cls[i : i + step]) for i in range(0, rows.shape[0], step)]
        return torch.cat(out).view(B, C, -1)

    def spliced_embeddings(self, ctx_rows: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
        """Token-embedding sequences ``(R, L, D)`` for context rows ``(R, n_ctx, D)`` of classes ``cls``."""
        pieces = torch.cat([self.prefix[cls].to(ctx_rows.dtype), ctx_rows, self.suffix[cls].to(ctx_rows.dtype)], 1)
        index = self.perm[cls].unsqueeze(-1).expand(-1, -1, pieces.shape[-1])
        return pieces.gather(1, index)

    def _forward(self, ctx_rows: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
        x = self.spliced_embeddings(ctx_rows, cls)
        m = self.model
        if self.backend == "clip":
            cast = m.transformer.get_cast_dtype()
            x = x.to(cast) + m.positional_embedding[: x.shape[1]].to(cast)
            mask = m.attn_mask[: x.shape[1], : x.shape[1]] if m.attn_mask is not None else None
            x = m.ln_final(m.transformer(x, attn_mask=mask))
            x = x[torch.arange(x.shape[0], device=x.device), self.eot_idx[cls]]
            proj = m.text_projection
            if proj is None:
                return x
            return proj(x) if isinstance(proj, nn.Linear) else x @ proj
        mask = self.attn[cls]
        out = m.text.transformer(inputs_embeds=x, attention_mask=mask)
        return m.text.proj(m.text.pooler(out, mask))
