"""The few-shot protocol runner: K × seeds per method, and base-to-novel (spec §8).

For each seed the support and val subsets are drawn with Dassl's order (:mod:`.sampler`); features come
from one :class:`~.features.FeatureStore`, so each image view is encoded once for all methods, K and
seeds. Only the validation split reaches selection code (a :class:`ValSplit`); test features are used
after fitting only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np
import torch
from sklearn.metrics import f1_score

from medclip.fewshot import FewShotMethodConfig
from medclip.fewshot.fit import fit_fewshot, transfer
from medclip.fewshot.registry import method_meta
from medclip.fewshot.valsplit import ValSplit

from .aggregate import base_novel_split, harmonic_mean
from .data import FewShotData
from .features import FeatureStore
from .sampler import SubsetCache

log = logging.getLogger(__name__)


def _scores(logits: torch.Tensor, labels: np.ndarray) -> dict[str, float]:
    pred = logits.argmax(-1).cpu().numpy()
    acc = float((pred == labels).mean())
    f1 = float(f1_score(labels, pred, average="macro", labels=np.unique(labels), zero_division=0))
    return {"accuracy": acc, "error": 1.0 - acc, "macro_f1": f1}


def _test_scores(logits: torch.Tensor, labels: np.ndarray) -> dict:
    """:func:`_scores` plus ``correct``: 0/1 per test image in test order (for paired tests vs zero-shot)."""
    pred = logits.argmax(-1).cpu().numpy()
    return {**_scores(logits, labels), "correct": (pred == labels).astype(np.int8).tolist()}


class FewShotRunner:
    """Runs methods over (K, seed) on one :class:`FewShotData` with shared feature caches."""

    def __init__(
        self,
        model,
        tokenizer,
        store: FeatureStore,
        data: FewShotData,
        *,
        bank: dict | None = None,
        cache_dir=None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.model, self.tokenizer, self.store, self.data, self.bank = model, tokenizer, store, data, bank
        self.progress = progress or (lambda s: log.info(s))
        tr, va = data.train, data.val
        path = None if cache_dir is None else f"{cache_dir}/subsets-{data.name}.json"
        self.subsets = SubsetCache(path, data.keys("train"), tr.labels, data.keys("val"), va.labels)
        self.test_x = store.eval_features(data.test.sources, data.keys("test"))
        self.test_y = np.asarray(data.test.labels)

    def _support(self, k: int, seed: int, cfg: FewShotMethodConfig, classes: list[int] | None = None):
        n_views = cfg.feature_views
        idx = self.subsets.get(k, seed)
        tr, va = self.data.train, self.data.val
        ti, vi = idx["train"], idx["val"]
        ty, vy = np.asarray(tr.labels)[ti], np.asarray(va.labels)[vi]
        remap = None
        if classes is not None:
            remap = {c: i for i, c in enumerate(classes)}
            keep_t, keep_v = [j for j, y in enumerate(ty) if y in remap], [j for j, y in enumerate(vy) if y in remap]
            ti, ty = [ti[j] for j in keep_t], np.asarray([remap[y] for y in ty[keep_t]])
            vi, vy = [vi[j] for j in keep_v], np.asarray([remap[y] for y in vy[keep_v]])
        tkeys, vkeys = self.data.keys("train"), self.data.keys("val")
        views = self.store.view_features(
            [tr.sources[i] for i in ti],
            [tkeys[i] for i in ti],
            n_views,
            min_scale=cfg.aug_min_scale,
            flip=cfg.aug == "coop_original",
        )
        val_x = self.store.eval_features([va.sources[i] for i in vi], [vkeys[i] for i in vi])
        return views, torch.as_tensor(ty, dtype=torch.long), ValSplit(val_x, torch.as_tensor(vy, dtype=torch.long)), ti

    def _zeroshot_predictor(self, cfg: FewShotMethodConfig, shots: list[int], seeds: list[int]):
        """The zero-shot classifier of the suite's prompts (the support set only feeds the common interface)."""
        views, y, val, _ = self._support(min(shots), seeds[0], cfg)
        return fit_fewshot(
            cfg,
            self.model,
            self.tokenizer,
            self.data.classnames,
            train_views=views,
            train_labels=y,
            val=val,
            class_prompts=self.data.class_prompts,
        )

    def run_fewshot(self, cfg: FewShotMethodConfig, shots: list[int], seeds: list[int]) -> list[dict]:
        """One record per (K, seed) with accuracy, error, macro-F1 and per-image ``correct`` on the test split
        (``test_index`` too when ``test_per_class`` evaluates a subset); the zero-shot record covers the full split."""
        d, out = self.data, []
        if not method_meta(cfg.method)["uses_support"]:  # zero-shot: one record, K = 0
            pred = self._zeroshot_predictor(cfg, shots, seeds)
            rec = {"dataset": d.name, "method": cfg.method, "k": 0, "seed": 0, "setting": "fewshot"}
            rec.update(_test_scores(pred.predict_logits(self.test_x), self.test_y))
            self.progress(f"{d.name} {cfg.method} acc={rec['accuracy']:.4f}")
            return [rec]
        test_x, test_y, zs_same, keep = self.test_x, self.test_y, None, None
        if cfg.test_per_class:
            keep = np.sort(
                np.concatenate([np.flatnonzero(self.test_y == c)[: cfg.test_per_class] for c in np.unique(self.test_y)])
            )
            test_x, test_y = self.test_x[torch.from_numpy(keep)], self.test_y[keep]
            zpred = self._zeroshot_predictor(FewShotMethodConfig(method="zeroshot"), shots, seeds)
            zs_same = _scores(zpred.predict_logits(test_x), test_y)["accuracy"]
        for k in shots:
            for seed in seeds:
                t0 = time.perf_counter()
                views, y, val, ti = self._support(k, seed, cfg)
                pred = fit_fewshot(
                    cfg,
                    self.model,
                    self.tokenizer,
                    d.classnames,
                    train_views=views,
                    train_labels=y,
                    val=val,
                    bank=self.bank,
                    seed=seed,
                    class_prompts=d.class_prompts,
                )
                rec = {
                    "dataset": d.name,
                    "method": cfg.method,
                    "k": k,
                    "seed": seed,
                    "setting": "fewshot",
                    "n_train": len(ti),
                    "n_val": len(val.labels),
                    "n_test": len(test_y),
                }
                if zs_same is not None:
                    rec["zeroshot_accuracy_same_test"] = zs_same
                    rec["test_index"] = keep.tolist()  # positions of the subset in the full test split
                rec["val_accuracy"] = _scores(pred.predict_logits(val.features), val.labels.numpy())["accuracy"]
                rec.update(_test_scores(pred.predict_logits(test_x), test_y))
                rec["seconds"] = round(time.perf_counter() - t0, 3)
                rec["info"] = _plain(pred.info)
                self.progress(
                    f"{d.name} {cfg.method} K={k} seed={seed} acc={rec['accuracy']:.4f} ({rec['seconds']:.1f}s)"
                )
                out.append(rec)
        return out

    def run_base_to_novel(self, cfg: FewShotMethodConfig, k: int, seeds: list[int]) -> list[dict]:
        """Train on base classes (first ⌈C/2⌉ labels), evaluate base and novel with their own classifiers."""
        d, out = self.data, []
        base, novel = base_novel_split(len(d.classnames))
        names = {"base": [d.classnames[c] for c in base], "novel": [d.classnames[c] for c in novel]}
        prompts = {"base": [d.class_prompts[c] for c in base], "novel": [d.class_prompts[c] for c in novel]}
        masks = {"base": np.isin(self.test_y, base), "novel": np.isin(self.test_y, novel)}
        for seed in seeds:
            t0 = time.perf_counter()
            views, y, val, ti = self._support(k, seed, cfg, classes=base)
            pred = fit_fewshot(
                cfg,
                self.model,
                self.tokenizer,
                names["base"],
                train_views=views,
                train_labels=y,
                val=val,
                bank=self.bank,
                seed=seed,
                class_prompts=prompts["base"],
            )
            rec = {
                "dataset": d.name,
                "method": cfg.method,
                "k": k,
                "seed": seed,
                "setting": "base_to_novel",
                "base_classes": names["base"],
                "novel_classes": names["novel"],
            }
            for part, classes in (("base", base), ("novel", novel)):
                p = (
                    pred
                    if part == "base"
                    else transfer(pred, cfg, self.model, self.tokenizer, names["novel"], prompts["novel"])
                )
                x = self.test_x[torch.from_numpy(masks[part])]
                yy = np.searchsorted(np.asarray(classes), self.test_y[masks[part]])
                rec[part] = _scores(p.predict_logits(x), yy)
            rec["hm"] = harmonic_mean(rec["base"]["accuracy"], rec["novel"]["accuracy"])
            rec["seconds"] = round(time.perf_counter() - t0, 3)
            self.progress(
                f"{d.name} {cfg.method} base-to-novel seed={seed} base={rec['base']['accuracy']:.4f} "
                f"novel={rec['novel']['accuracy']:.4f} hm={rec['hm']:.4f}"
            )
            out.append(rec)
        return out


def _plain(obj):
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return obj
