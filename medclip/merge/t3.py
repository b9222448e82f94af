"""T3, T3_B and every baseline over one labelled tensor data set (spec sections 4 and 8).

``run_methods(pair, images, tokenizer=..., class_prompts=..., cfg=...)`` performs the coefficient
precomputation (pass A: both endpoint models on every image), derives the per-sample coefficients and
evaluates each configured method, returning predictions, lambda statistics and cost counters per method.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch

from ..zeroshot_head import build_text_classifier
from .coef import lambda_stats, probabilities, t3_lambdas
from .config import MergeConfig
from .dual_ops import LowRank
from .engines import merged_logits
from .pair import MergePair
from .registry import MERGE_METHODS, MergeContext, Outcome


@dataclass
class Endpoints:
    """Pass A: both endpoint models on every image."""

    cos_b: torch.Tensor  # (N, C) cosine logits of the base model
    cos_e: torch.Tensor  # (N, C) of the expert
    scale_b: float
    scale_e: float
    wall_s: float
    text_b: torch.Tensor | None = None  # (C, d) class features of the base model
    text_e: torch.Tensor | None = None  # (C, d) of the expert


@dataclass
class MethodResult:
    """One method's predictions and cost."""

    name: str
    kind: str  # endpoint | static | per_sample | batch | output
    pred: torch.Tensor  # (N,) argmax class
    lam: torch.Tensor | None = None  # per-sample weight on the base model (merging methods)
    rebuilds: int = 0  # merged state dicts built
    dual_passes: int = 0  # dual-engine batches
    wall_s: float = 0.0  # the method's own work (excludes pass A)
    needs_pass_a: bool = False  # cost adds the shared pass A
    notes: list[str] = field(default_factory=list)
    stats: dict | None = None  # lambda statistics


@torch.no_grad()
def endpoint_pass(pair: MergePair, images: torch.Tensor, *, tokenizer, class_prompts, batch_size: int = 64,
                  text_cache: dict | None = None):  # fmt: skip
    """Pass A: cosine logits of the base and the expert on every image, with each model's own text features.

    ``text_cache`` (a dict owned by the caller, for one pair) reuses class features across calls with the
    same prompts (e.g. corrupted copies of one data set).
    """
    t0 = time.perf_counter()
    out, texts = [], []
    key = tuple(tuple(p) for p in class_prompts)
    for which, model in (("base", pair.base), ("expert", pair.expert)):
        if text_cache is not None and (which, key) in text_cache:
            text = text_cache[(which, key)]
        else:
            text = build_text_classifier(model, tokenizer, class_prompts)
            if text_cache is not None:
                text_cache[(which, key)] = text
        texts.append(text)
        feats = [
            model.encode_image(images[i : i + batch_size], normalize=True) for i in range(0, len(images), batch_size)
        ]
        out.append(torch.cat(feats).float() @ text.T)
    sb, se = (float(m.logit_scale.detach().exp()) for m in (pair.base, pair.expert))
    return Endpoints(out[0], out[1], sb, se, time.perf_counter() - t0, texts[0], texts[1])


def _static(pair, name, update, images, tokenizer, class_prompts, batch_size, text=None) -> MethodResult:
    t0 = time.perf_counter()
    model = pair.build(update)
    if text is None or pair.text_differs:
        text = build_text_classifier(model, tokenizer, class_prompts)
    with torch.no_grad():
        f = torch.cat(
            [model.encode_image(images[i : i + batch_size], normalize=True) for i in range(0, len(images), batch_size)]
        )
    return MethodResult(name, "static", (f @ text.T).argmax(-1), rebuilds=1, wall_s=time.perf_counter() - t0)


def _outcomes(value) -> Iterator[Outcome]:
    """A method's return value as Outcomes (a plain value, one Outcome, or several for a sweep)."""
    if isinstance(value, Outcome):
        yield value
    elif isinstance(value, (list, tuple, Iterator)):
        for v in value:
            yield from _outcomes(v)
    else:
        yield Outcome(value)


@dataclass
class _Runner:
    """Turns each method's value into a :class:`MethodResult` according to the method's kind."""

    ctx: MergeContext
    tokenizer: object
    class_prompts: Sequence[Sequence[str]]
    lowrank: dict[str, LowRank] | None
    endpoint_text: tuple[torch.Tensor, torch.Tensor] | None

    def run(self, method: str) -> list[MethodResult]:
        meta = MERGE_METHODS.meta(method)
        cfg = self.ctx.merge
        value = MERGE_METHODS.get(method)(self.ctx, cfg.method_config(method))
        out = []
        for o in _outcomes(value):
            r = getattr(self, meta["kind"])(o.name or method, o, meta)
            r.notes = list(o.notes) + r.notes
            if meta["kind"] in ("per_sample", "batch"):
                if cfg.text_mode == "approx_mix":
                    r.notes.append("text approx_mix (not exact)")
                if cfg.coef.coef_target == "expert" and meta.get("t3_coef"):
                    r.notes.append("ablation: coef_target=expert")
            r.stats = lambda_stats(r.lam, cfg.coef if meta.get("coef_stats") else None) if r.lam is not None else None
            out.append(r)
        return out

    def endpoint(self, name: str, o: Outcome, meta: dict) -> MethodResult:
        return MethodResult(name, "endpoint", torch.as_tensor(o.value).argmax(-1), o.lam)

    def output(self, name: str, o: Outcome, meta: dict) -> MethodResult:
        return MethodResult(name, "output", torch.as_tensor(o.value).argmax(-1), o.lam, needs_pass_a=True)

    def static(self, name: str, o: Outcome, meta: dict) -> MethodResult:
        text = None if self.endpoint_text is None else self.endpoint_text[0]
        cfg = self.ctx.merge
        return _static(self.ctx.pair, name, o.value, self.ctx.images, self.tokenizer, self.class_prompts,
                       cfg.batch_size, text)  # fmt: skip

    def per_sample(self, name: str, o: Outcome, meta: dict, kind: str = "per_sample") -> MethodResult:
        cfg = self.ctx.merge
        engine = cfg.engine if kind == "per_sample" else cfg.batch_engine
        lam = torch.as_tensor(o.value, dtype=torch.float64)
        if lam.shape != (self.ctx.n,):
            raise ValueError(f"merge method {name!r} returned lambda of shape {tuple(lam.shape)}, not ({self.ctx.n},)")
        out = merged_logits(self.ctx.pair, self.ctx.images, lam, engine=engine, tokenizer=self.tokenizer,
                            class_prompts=self.class_prompts, text_mode=cfg.text_mode, batch_size=cfg.batch_size,
                            lowrank=self.lowrank if engine == "delta" else None,
                            endpoint_text=self.endpoint_text)  # fmt: skip
        return MethodResult(name, kind, out.cos.argmax(-1), lam, out.rebuilds, out.dual_passes, out.wall_s, True)

    def batch(self, name: str, o: Outcome, meta: dict) -> MethodResult:
        return self.per_sample(name, o, meta, kind="batch")


def merge_context(pair: MergePair, images: torch.Tensor, ep: Endpoints, cfg: MergeConfig) -> MergeContext:
    """What every method reads: pass A's logits, the coefficient's probabilities, T3's JS and lambda."""
    c = cfg.coef
    p_b, p_e = probabilities(ep.cos_b, ep.scale_b, c), probabilities(ep.cos_e, ep.scale_e, c)
    js, lam = t3_lambdas(p_b, p_e, c)
    return MergeContext(pair, images, ep.cos_b, ep.cos_e, p_b, p_e, js, lam, cfg)


def run_methods(
    pair: MergePair,
    images: torch.Tensor,
    *,
    tokenizer,
    class_prompts: Sequence[Sequence[str]],
    cfg: MergeConfig | None = None,
    lowrank: dict[str, LowRank] | None = None,
    endpoints: Endpoints | None = None,
    text_cache: dict | None = None,
) -> tuple[dict[str, MethodResult], dict]:
    """Evaluate every method of ``cfg.methods`` (names of :data:`MERGE_METHODS`) on ``images`` (dataset
    order, never shuffled).

    Returns:
        ``(results, info)``: per-method results and run information (pass-A cost, coefficient config,
        JS statistics).
    """
    cfg = cfg or MergeConfig()
    cfg.validate()
    ep = endpoints or endpoint_pass(pair, images, tokenizer=tokenizer, class_prompts=class_prompts,
                                    batch_size=cfg.batch_size, text_cache=text_cache)  # fmt: skip
    ctx = merge_context(pair, images, ep, cfg)
    js = ctx.js
    text = (ep.text_e, ep.text_b) if ep.text_e is not None else None
    runner = _Runner(ctx, tokenizer, class_prompts, lowrank, text)
    res: dict[str, MethodResult] = {}
    for m in cfg.methods:
        for r in runner.run(m):
            res[r.name] = r
    info = {
        "n": len(images),
        "pass_a_wall_s": ep.wall_s,
        "js_mean": float(js.mean()) if len(js) else float("nan"),
        "js_max": float(js.max()) if len(js) else float("nan"),
        "logit_scale_base": ep.scale_b,
        "logit_scale_expert": ep.scale_e,
        "differing_tensors": len(pair.differing),
        "text_differs": pair.text_differs,
    }
    return res, info
