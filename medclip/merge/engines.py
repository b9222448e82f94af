"""Merged-model logits over a tensor data set with any engine: naive rebuilds, dual, delta.

``merged_logits(pair, images, lam, engine=...)`` returns, for every image ``x_i``, the cosine logits and
the logit scale of the model ``theta_i = lerp(theta_e, theta_b, lam_i)`` with class text features of that
same merged model (spec section 5, "Text side"). Consecutive equal coefficients (T3_B, static merges) share
one rebuild in the naive engine and one text-feature computation in every engine.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..zeroshot_head import build_text_classifier
from .dual import DualEngine
from .dual_ops import LowRank
from .pair import MergeError, MergePair, load_into

TEXT_MODES = ("auto", "recompute", "approx_mix")
ENGINES = ("naive", "dual", "delta")


@dataclass
class MergedOutput:
    """Per-sample cosine logits ``(N, C)``, logit scales ``(N,)`` and cost counters."""

    cos: torch.Tensor
    scale: torch.Tensor
    rebuilds: int = 0
    dual_passes: int = 0
    wall_s: float = 0.0
    info: dict = field(default_factory=dict)

    @property
    def logits(self) -> torch.Tensor:
        """``scale * cos``."""
        return self.scale[:, None] * self.cos


class NaiveMerger:
    """The reference: one merged state dict per distinct coefficient, loaded into a working model.

    By default only the differing tensors are interpolated (identical ones are shared). ``literal=True``
    is the spec's section-4 cost model: every floating tensor is interpolated and loaded, and the text
    features are recomputed after every rebuild (see :class:`TextBank`).
    """

    def __init__(self, pair: MergePair, *, literal: bool = False) -> None:
        self.pair, self.literal = pair, literal
        self.work = copy.deepcopy(pair.expert)
        self.current: float | None = 0.0  # the working copy starts as the expert (lam = 0)
        self.rebuilds = 0

    def model_at(self, lam: float) -> torch.nn.Module:
        """The working model holding ``lerp(theta_e, theta_b, lam)`` (rebuilt only when lam changes)."""
        lam = float(lam)
        if self.current != lam:
            with torch.no_grad():
                load_into(self.work, self.pair.merged_state_dict(lam, every_float=self.literal))
            self.current = lam
            self.rebuilds += 1
        return self.work


def _groups(lam: torch.Tensor) -> list[torch.Tensor]:
    """Indices of each distinct value (in order of first appearance), each in dataset order."""
    values, inverse = torch.unique(lam, return_inverse=True)
    first = torch.full((len(values),), len(lam), dtype=torch.long).scatter_reduce(
        0, inverse, torch.arange(len(lam)), reduce="amin"
    )
    return [(inverse == j).nonzero().flatten() for j in first.argsort().tolist()]


def _trim(model, tokens: torch.Tensor) -> torch.Tensor:
    """Drop all-padding trailing columns for HF text towers (their attention mask ignores padding, so the
    features are unchanged and the dual text pass over B x prompts sequences is much cheaper)."""
    text = getattr(model, "text", None)
    pad = getattr(getattr(text, "config", None), "pad_token_id", None)
    if type(text).__name__ != "HFTextEncoder" or pad is None or tokens.ndim != 2:
        return tokens
    used = (tokens != pad).any(dim=0).nonzero()
    return tokens if len(used) == 0 else tokens[:, : int(used[-1]) + 1]


class TextBank:
    """Class features ``t(lam)`` of merged models, computed once per distinct coefficient."""

    def __init__(self, pair, tokenizer, class_prompts, *, text_mode, dual, naive, chunk_rows=4096, endpoint_text=None):
        if text_mode not in TEXT_MODES:
            raise MergeError(f"text_mode must be one of {TEXT_MODES}, got {text_mode!r}")
        self.pair, self.tok, self.prompts, self.mode = pair, tokenizer, class_prompts, text_mode
        self.dual, self.naive, self.chunk_rows = dual, naive, chunk_rows
        self.cache: dict[float, torch.Tensor] = {}
        if endpoint_text is not None:  # (t_e, t_b) already computed by the caller for these prompts
            self.t_e, self.t_b = endpoint_text
        else:
            self.t_e = build_text_classifier(pair.expert, tokenizer, class_prompts)
            self.t_b = build_text_classifier(pair.base, tokenizer, class_prompts) if pair.text_differs else self.t_e
        flat = [p for ps in class_prompts for p in ps]
        self.tokens = _trim(pair.expert, tokenizer(flat))
        self.owner = torch.tensor([c for c, ps in enumerate(class_prompts) for _ in ps])

    def _dual_many(self, lams: list[float]) -> torch.Tensor:
        p, c = len(self.tokens), len(self.prompts)
        per = max(1, self.chunk_rows // p)
        out = []
        for i in range(0, len(lams), per):
            lu = torch.tensor(lams[i : i + per], dtype=torch.float32)
            toks = self.tokens.repeat(len(lu), 1)
            f = self.dual.encode_text(toks, lu.repeat_interleave(p)).view(len(lu), p, -1)
            sums = torch.zeros(len(lu), c, f.shape[-1]).index_add_(1, self.owner, f)
            out.append(F.normalize(sums, dim=-1))
        return torch.cat(out)

    def features(self, lams: Sequence[float]) -> dict[float, torch.Tensor]:
        """``{lam: (C, d)}`` for every requested coefficient."""
        if self.naive is not None and self.naive.literal:  # spec-literal reference: recompute every time
            return {float(x): build_text_classifier(self.naive.model_at(x), self.tok, self.prompts) for x in lams}
        todo = sorted({float(x) for x in lams} - set(self.cache))
        if not self.pair.text_differs:
            return {float(x): self.t_e for x in lams}
        for x in todo:
            if x in (0.0, 1.0):  # endpoints: the stock models' own classifiers (bit-identical)
                self.cache[x] = self.t_e if x == 0.0 else self.t_b
        todo = [x for x in todo if x not in self.cache]
        if todo:
            if self.mode == "approx_mix":  # NOT exact: mixes normalized class features
                for x in todo:
                    self.cache[x] = F.normalize(torch.lerp(self.t_e, self.t_b, x), dim=-1)
            elif self.mode == "recompute" or self.dual is None:
                for x in todo:
                    self.cache[x] = build_text_classifier(self.naive.model_at(x), self.tok, self.prompts)
            else:
                for x, t in zip(todo, self._dual_many(todo)):
                    self.cache[x] = t
        return {float(x): self.cache[float(x)] for x in lams}


@torch.no_grad()
def _naive_pass(naive: NaiveMerger, bank: TextBank, images, lam, cos, scale, *, step: int) -> None:
    """Fill ``cos`` / ``scale`` with one rebuilt model per distinct lam, ``step`` images per forward."""
    for idx in _groups(lam):
        x = float(lam[idx[0]])
        text = bank.features([x])[x]
        model = naive.model_at(x)
        for s in range(0, len(idx), step):
            rows = idx[s : s + step]
            f = model.encode_image(images[rows], normalize=True)
            cos[rows] = f.float() @ text.T
            scale[rows] = model.logit_scale.detach().exp().float()


@torch.no_grad()
def _dual_pass(dual: DualEngine, bank: TextBank, images, lam, cos, scale, *, batch_size: int) -> None:
    """Fill ``cos`` / ``scale`` with the dual / delta engine, batches of ``batch_size`` images in dataset order."""
    for s in range(0, len(lam), batch_size):
        e = min(len(lam), s + batch_size)
        lb = lam[s:e]
        f = dual.encode_image(images[s:e], lb.float())
        texts = bank.features(lb.tolist())
        for x in set(lb.tolist()):  # one matmul per distinct coefficient
            rows = (lb == x).nonzero().flatten()
            cos[s + rows] = f.float()[rows] @ texts[x].T
        scale[s:e] = dual.logit_scale(lb.float())


def merged_logits(
    pair: MergePair,
    images: torch.Tensor,
    lam: torch.Tensor,
    *,
    tokenizer,
    class_prompts: Sequence[Sequence[str]],
    engine: str = "dual",
    text_mode: str = "auto",
    batch_size: int = 64,
    lowrank: dict[str, LowRank] | None = None,
    per_sample: bool = False,
    naive_literal: bool = False,
    endpoint_text: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> MergedOutput:
    """Cosine logits and logit scales of the merged model of every sample.

    Args:
        pair: the base / expert pair.
        images: ``(N, 3, H, W)`` preprocessed images (dataset order).
        lam: ``(N,)`` weight on the base model per sample.
        tokenizer: the models' tokenizer.
        class_prompts: prompts per class (same for every model).
        engine: ``naive`` (one rebuild per distinct lam), ``dual`` or ``delta``.
        text_mode: ``auto`` (exact; shared when the text side is identical), ``recompute``, ``approx_mix``.
        batch_size: forward batch size of the dual / delta engines and of naive runs of equal lam.
        lowrank: low-rank deltas for the ``delta`` engine.
        per_sample: naive engine only: forward one image at a time (the T3 reference) instead of batching
            runs of equal lam.
        naive_literal: naive engine only: interpolate every floating tensor and recompute the text features
            at every rebuild (the spec's literal reference and cost model).
        endpoint_text: ``(t_e, t_b)`` class features of the expert and the base for ``class_prompts``
            (``build_text_classifier``), when the caller already has them.
    """
    if engine not in ENGINES:
        raise MergeError(f"engine must be one of {ENGINES}, got {engine!r}")
    lam = torch.as_tensor(lam, dtype=torch.float64).flatten()
    n = len(lam)
    t0 = time.perf_counter()
    naive = NaiveMerger(pair, literal=naive_literal and engine == "naive")
    dual = None if engine == "naive" else DualEngine(pair, mode=engine, lowrank=lowrank)
    bank = TextBank(pair, tokenizer, class_prompts, text_mode=text_mode, dual=dual, naive=naive,
                    endpoint_text=endpoint_text)  # fmt: skip
    cos = torch.empty(n, len(class_prompts))
    scale = torch.empty(n)
    if engine == "naive":
        _naive_pass(naive, bank, images, lam, cos, scale, step=1 if per_sample else batch_size)
    else:
        _dual_pass(dual, bank, images, lam, cos, scale, batch_size=batch_size)
    wall = time.perf_counter() - t0
    return MergedOutput(cos, scale, rebuilds=naive.rebuilds, dual_passes=0 if dual is None else dual.calls,
                        wall_s=wall, info={"engine": engine, "text_mode": text_mode})  # fmt: skip
