"""The merging evaluation protocol (spec section 9) on a suite: in-domain, other modalities, corruptions.

Settings, for an expert fine-tuned on modality ``m`` of a suite dataset:

- ``in_domain``: the test split restricted to ``m`` (its samples and its classes);
- ``novel:<m'>``: the test split restricted to another modality ``m'`` (the base-to-novel analogue: the
  expert never saw it);
- ``<corruption>@<s>``: the in-domain samples corrupted at severity ``s`` (``zeroshot.robustness``).

Every method of :mod:`medclip.merge` runs on every setting; metrics are top-1, error reduction against the
zero-shot base (``ER = (Err_base - Err)/Err_base * 100``), mCE with the base as reference (base = 100),
lambda statistics and cost (wall-clock per 1000 images, rebuilds, dual passes).
"""

from __future__ import annotations

import dataclasses
import logging
import resource
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from medclip.config import ConfigError, to_dict
from medclip.merge.config import MergeConfig
from medclip.merge.pair import MergePair
from medclip.merge.t3 import run_methods

from ..robustness import CORRUPTIONS, MODALITY_ONLY
from ..suites import load_suite, select
from .data import load_images, modalities_of, modality_view
from .models import checkpoint_extras, load_model, stored_lowrank

log = logging.getLogger("medclip.merge.protocol")


@dataclass
class ProtocolConfig:
    """Settings of a protocol run (the merge settings are under ``merge``)."""

    merge: MergeConfig = field(default_factory=MergeConfig)
    suite: str = "demo"
    data_root: str | None = None  # overrides the suite's data root
    dataset: str = "demo"  # suite dataset providing the test split
    test_split: str | None = None  # split folder; default: the dataset's own path (test)
    expert_modality: str | None = None  # default: the modality stored in the expert checkpoint
    novel_modalities: list[str] = field(default_factory=list)  # default: every other modality
    max_samples: int | None = None  # in-domain setting (seeded subset, dataset order kept)
    novel_max_samples: int | None = None  # per other-modality setting
    corruptions: list[str] = field(default_factory=lambda: ["gaussian_noise", "gaussian_blur", "jpeg", "contrast"])
    severities: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5])
    corruption_max_samples: int | None = 200  # per corruption setting
    corruption_methods: list[str] = field(default_factory=list)  # default: merge.methods
    corruption_seed: int = 0  # image i is corrupted with seed * 1_000_003 + i
    seed: int = 0  # subset seed
    threads: int = 1

    def validate(self) -> None:
        bad = [c for c in self.corruptions if c not in CORRUPTIONS]
        if bad:
            raise ConfigError(f"unknown corruptions {bad}; choose from {', '.join(CORRUPTIONS)}")
        if any(s not in (1, 2, 3, 4, 5) for s in self.severities):
            raise ConfigError(f"severities must be within 1-5, got {self.severities}")
        extra = [m for m in self.corruption_methods if m not in self.merge.methods]
        if extra:
            raise ConfigError(f"corruption_methods {extra} are not in merge.methods")


def _top1(pred: torch.Tensor, labels: np.ndarray) -> float:
    return float((pred.numpy() == labels).mean())


def error_reduction(err_ref: float, err: float) -> float:
    """``(Err_ref - Err) / Err_ref * 100`` (NaN when the reference makes no error)."""
    return float("nan") if err_ref == 0 else (err_ref - err) / err_ref * 100.0


def mce(errors: dict[str, dict[int, float]], base_errors: dict[str, dict[int, float]]) -> float:
    """ImageNet-C mCE with the base as reference: ``100 * mean_c sum_s Err_{s,c} / sum_s Err^base_{s,c}``."""
    ces = []
    for c, by_s in errors.items():
        ref = sum(base_errors[c].values())
        ces.append(float("nan") if ref == 0 else sum(by_s.values()) / ref)
    return 100.0 * float(np.mean(ces)) if ces else float("nan")


def _setting(pair, view, images, cfg: ProtocolConfig, methods, lowrank, tok, text_cache) -> dict:
    mcfg = dataclasses.replace(cfg.merge, methods=list(methods))
    res, info = run_methods(pair, images, tokenizer=tok, class_prompts=view.prompts, cfg=mcfg, lowrank=lowrank,
                            text_cache=text_cache)  # fmt: skip
    labels = view.items.labels
    out = {"n": len(images), "info": info, "methods": {}}
    for name, r in res.items():
        own = r.wall_s + (info["pass_a_wall_s"] if r.needs_pass_a else 0.0)
        if r.kind == "endpoint":
            own = info["pass_a_wall_s"] / 2
        out["methods"][name] = {
            "top1": _top1(r.pred, labels),
            "kind": r.kind,
            "lambda": r.stats,
            "rebuilds": r.rebuilds,
            "dual_passes": r.dual_passes,
            "ms_per_1000": 1e6 * own / max(1, len(images)),
            "notes": r.notes,
        }
    return out


@dataclass
class _Pair:
    """The loaded pair and what the protocol knows about it."""

    pair: MergePair
    preprocess: object
    tokenizer: object
    architecture: str | None
    extras: dict
    modality: str
    lowrank: dict | None


def load_pair(base: str, expert: str, cfg: ProtocolConfig, *, base_pretrained: str | None = None,
              expert_pretrained: str | None = None) -> _Pair:  # fmt: skip
    """Load both model specs (same architecture), the expert's modality and its stored low-rank delta."""
    base_model, preprocess, tok, base_name = load_model(base, base_pretrained)
    expert_model, _, _, expert_name = load_model(expert, expert_pretrained)
    if base_name and expert_name and base_name != expert_name:
        raise ConfigError(f"base ({base_name}) and expert ({expert_name}) architectures differ")
    extras = checkpoint_extras(expert)
    modality = cfg.expert_modality or extras.get("expert", {}).get("modality")
    if modality is None:
        raise ConfigError("expert_modality is unknown: set expert_modality=<modality>")
    m = cfg.merge
    pair = MergePair(base_model, expert_model, merge_scope=m.merge_scope, merge_logit_scale=m.merge_logit_scale,
                     unmerged_from=m.unmerged_from)  # fmt: skip
    lowrank = stored_lowrank(extras, pair.base_sd, pair.expert_sd) if m.engine == "delta" else None
    return _Pair(pair, preprocess, tok, base_name or expert_name, extras, modality, lowrank)


def _run_settings(p: _Pair, cfg: ProtocolConfig, suite, ds, novel: list[str]) -> dict[str, dict]:
    """In-domain, each other modality, each corruption x severity, in that order."""
    m, modality, settings, text_cache = cfg.merge, p.modality, {}, {}
    used = [c for c in cfg.corruptions if not (c in MODALITY_ONLY and modality not in MODALITY_ONLY[c])]
    total = 1 + len(novel) + len(used) * len(cfg.severities)

    def run(key, view, images, methods):
        t = time.perf_counter()
        settings[key] = r = _setting(p.pair, view, images, cfg, methods, p.lowrank, p.tokenizer, text_cache)
        lam = (r["methods"].get("t3") or {}).get("lambda") or {}
        log.info("setting %d/%d %s: %d images, %.1fs; t3 lambda mean %s [%s, %s]", len(settings), total, key,
                 len(images), time.perf_counter() - t, lam.get("mean"), lam.get("min"), lam.get("max"))  # fmt: skip

    view = modality_view(suite, ds, modality, path=cfg.test_split, max_samples=cfg.max_samples, seed=cfg.seed)
    run("in_domain", view, load_images(view, p.preprocess), m.methods)
    for nm in novel:
        nv = modality_view(suite, ds, nm, path=cfg.test_split, max_samples=cfg.novel_max_samples, seed=cfg.seed)
        run(f"novel:{nm}", nv, load_images(nv, p.preprocess), m.methods)
    cview = modality_view(
        suite, ds, modality, path=cfg.test_split, max_samples=cfg.corruption_max_samples, seed=cfg.seed
    )
    cmethods = list(dict.fromkeys(["base", *(cfg.corruption_methods or m.methods)]))
    for c in used:
        for s in cfg.severities:
            imgs = load_images(cview, p.preprocess, corruption=c, severity=s, seed=cfg.corruption_seed)
            run(f"{c}@{s}", cview, imgs, cmethods)
    return settings


def run_protocol(base: str, expert: str, cfg: ProtocolConfig, *, base_pretrained: str | None = None,
                 expert_pretrained: str | None = None) -> dict:  # fmt: skip
    """Run every setting and method; returns the report dict (see :func:`summarize`).

    ``base`` and ``expert`` are model specs (a medclip checkpoint, an open_clip name with
    ``*_pretrained`` weights, ``hf-hub:`` or ``local-dir:``); both must have the same state-dict keys.
    """
    cfg.validate()
    torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()
    p = load_pair(base, expert, cfg, base_pretrained=base_pretrained, expert_pretrained=expert_pretrained)
    suite = load_suite(cfg.suite, cfg.data_root)
    ds = select(suite, [cfg.dataset])[0]
    novel = cfg.novel_modalities or [x for x in modalities_of(suite, ds) if x != p.modality]
    log.info("coefficient: %s", to_dict(cfg.merge.coef))
    log.info("pair: %d differing tensors (text differs: %s)", len(p.pair.differing), p.pair.text_differs)
    report = summarize(_run_settings(p, cfg, suite, ds, novel))
    report.update(
        {
            "base": base if base_pretrained is None else f"{base}@{base_pretrained}",
            "expert": expert if expert_pretrained is None else f"{expert}@{expert_pretrained}",
            "architecture": p.architecture or base,
            "expert_modality": p.modality,
            "expert_meta": {k: v for k, v in p.extras.get("expert", {}).items() if k != "history"},
            "novel_modalities": novel,
            "differing_tensors": len(p.pair.differing),
            "text_differs": p.pair.text_differs,
            "lowrank_delta": p.lowrank is not None,
            "wall_s": time.perf_counter() - t0,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "config": to_dict(cfg),
        }
    )
    return report


def summarize(settings: dict[str, dict]) -> dict:
    """Per-method headline metrics over the settings: in-domain, novel mean, corruptions, mCE, cost."""
    novel = [k for k in settings if k.startswith("novel:")]
    corr = [k for k in settings if "@" in k]
    methods = list(settings["in_domain"]["methods"])
    base_err = {k: 1 - settings[k]["methods"]["base"]["top1"] for k in settings}
    table = {}
    for name in methods:
        row = {}
        ind = settings["in_domain"]["methods"][name]
        row["in_domain_top1"] = ind["top1"]
        row["in_domain_er"] = error_reduction(base_err["in_domain"], 1 - ind["top1"])
        nov = [settings[k]["methods"][name]["top1"] for k in novel if name in settings[k]["methods"]]
        row["novel_top1"] = float(np.mean(nov)) if nov else float("nan")
        # ER of the mean error over the other modalities (a mean of per-modality ERs explodes when the base
        # is almost perfect on one of them)
        row["novel_er"] = (
            error_reduction(float(np.mean([base_err[k] for k in novel])), 1 - row["novel_top1"])
            if nov
            else float("nan")
        )
        ck = [k for k in corr if name in settings[k]["methods"]]
        if ck:
            row["corrupt_top1"] = float(np.mean([settings[k]["methods"][name]["top1"] for k in ck]))
            errs: dict[str, dict[int, float]] = {}
            berrs: dict[str, dict[int, float]] = {}
            for k in ck:
                c, s = k.split("@")
                errs.setdefault(c, {})[int(s)] = 1 - settings[k]["methods"][name]["top1"]
                berrs.setdefault(c, {})[int(s)] = base_err[k]
            row["mce"] = mce(errs, berrs)
        lam = ind.get("lambda") or {}
        row["lambda_mean"] = lam.get("mean")
        row["lambda_min"], row["lambda_max"] = lam.get("min"), lam.get("max")
        row["ms_per_1000"] = ind["ms_per_1000"]
        row["rebuilds"] = ind["rebuilds"]
        row["dual_passes"] = ind["dual_passes"]
        row["notes"] = ind["notes"]
        table[name] = row
    return {"table": table, "settings": settings}
