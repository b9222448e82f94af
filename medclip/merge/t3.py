"""T3, T3_B and every baseline over one labelled tensor data set (spec sections 4 and 8).

``run_methods(pair, images, tokenizer=..., class_prompts=..., cfg=...)`` performs the coefficient
precomputation (pass A: both endpoint models on every image), derives the per-sample coefficients and
evaluates each configured method, returning predictions, lambda statistics and cost counters per method.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from ..zeroshot_head import build_text_classifier
from . import baselines, static
from .coef import batch_lambdas, lambda_stats, probabilities, t3_lambdas
from .config import MergeConfig
from .dual_ops import LowRank
from .engines import merged_logits
from .pair import MergePair


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
    """Evaluate every method of ``cfg.methods`` on ``images`` (dataset order, never shuffled).

    Returns:
        ``(results, info)``: per-method results and run information (pass-A cost, coefficient config,
        JS statistics).
    """
    cfg = cfg or MergeConfig()
    cfg.validate()
    ep = endpoints or endpoint_pass(pair, images, tokenizer=tokenizer, class_prompts=class_prompts,
                                    batch_size=cfg.batch_size, text_cache=text_cache)  # fmt: skip
    c = cfg.coef
    p_b, p_e = probabilities(ep.cos_b, ep.scale_b, c), probabilities(ep.cos_e, ep.scale_e, c)
    js, lam = t3_lambdas(p_b, p_e, c)
    common = dict(tokenizer=tokenizer, class_prompts=class_prompts, text_mode=cfg.text_mode, batch_size=cfg.batch_size)
    if ep.text_e is not None:
        common["endpoint_text"] = (ep.text_e, ep.text_b)
    res: dict[str, MethodResult] = {}

    def per_sample(name, lam_i, engine, kind="per_sample", notes=()):
        out = merged_logits(
            pair, images, lam_i, engine=engine, lowrank=lowrank if engine == "delta" else None, **common
        )
        r = MethodResult(name, kind, out.cos.argmax(-1), lam_i, out.rebuilds, out.dual_passes, out.wall_s, True)
        r.notes = list(notes) + (["text approx_mix (not exact)"] if cfg.text_mode == "approx_mix" else [])
        if c.coef_target == "expert" and name.startswith("t3"):
            r.notes.append("ablation: coef_target=expert")
        res[name] = r

    def one(name, update):
        return _static(pair, name, update, images, tokenizer, class_prompts, cfg.batch_size, ep.text_e)

    for m in cfg.methods:
        if m == "base":
            res[m] = MethodResult(m, "endpoint", ep.cos_b.argmax(-1), torch.ones(len(images), dtype=torch.float64))
        elif m == "expert":
            res[m] = MethodResult(m, "endpoint", ep.cos_e.argmax(-1), torch.zeros(len(images), dtype=torch.float64))
        elif m == "weight_avg":
            res[m] = _static(
                pair, m, static.weight_average(pair), images, tokenizer, class_prompts, cfg.batch_size, ep.text_e
            )
        elif m == "wise_ft":
            for a in [cfg.wise_alpha, *cfg.wise_sweep]:
                key = m if a == cfg.wise_alpha else f"wise_ft@{a:g}"
                res[key] = _static(
                    pair, key, static.wise_ft(pair, a), images, tokenizer, class_prompts, cfg.batch_size, ep.text_e
                )
        elif m == "task_arithmetic":
            upd = static.task_arithmetic(pair, cfg.ta_scale)
            res[m] = one(m, upd)
        elif m == "ties":
            upd = static.ties(pair, top_k=cfg.ties_top_k, scale=cfg.ties_scale)
            res[m] = one(m, upd)
        elif m == "dare":
            upd = static.dare(pair, drop=cfg.dare_drop, scale=cfg.dare_scale, seed=cfg.dare_seed)
            res[m] = one(m, upd)
        elif m == "ensemble":
            pe = baselines.output_ensemble(p_b, p_e, cfg.ensemble_c)
            res[m] = MethodResult(m, "output", pe.argmax(-1), needs_pass_a=True, notes=["output space, not a merge"])
        elif m in ("dawin", "dawin_offset"):
            per_sample(m, baselines.dawin_lambda(p_b, p_e, offset=m == "dawin_offset"), cfg.engine)
        elif m == "dawin_bmm":
            lb = baselines.dawin_bmm_lambda(p_b, p_e, k=cfg.bmm_components, batch=cfg.bmm_batch)
            per_sample(m, lb, cfg.batch_engine, kind="batch", notes=[f"{cfg.bmm_components} clusters"])
        elif m == "t3":
            per_sample(m, lam, cfg.engine)
        elif m in ("t3_b", "t3_b_mean_js"):
            agg = cfg.batch_agg if m == "t3_b" else "lambda_of_mean_js"
            lb = batch_lambdas(lam, js, c, batch_size=cfg.merge_batch_size, agg=agg)
            per_sample(m, lb, cfg.batch_engine, kind="batch", notes=[f"batch_agg={agg}, B={cfg.merge_batch_size}"])
        elif m.startswith("random_"):
            kind = {"random_uniform": "uniform", "random_n05": "normal_0.5_0.2", "random_n08": "normal_0.8_0.1"}[m]
            per_sample(m, baselines.random_lambda(len(images), kind, seed=cfg.random_seed), cfg.engine)
    for r in res.values():
        r.stats = lambda_stats(r.lam, c if r.name in ("t3",) else None) if r.lam is not None else None
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
