"""Benchmark: few-shot training with the frozen-feature cache vs re-encoding images every step.

Same process, same method, same support set, same optimizer steps. ``cached``: the support images'
augmented views are encoded once (the cache build, timed separately: in a protocol run it is shared by
every method, K and seed) and training reads features from the cache; ``online``: every step decodes,
augments and encodes its batch's images (a trainer without the cache). The target line is the
training-time ratio for ``--target-method`` (default CLIP-Adapter, whose per-step cost is the frozen image
tower); every method also prints the ratio with the cache build included. At the demo's 64 px image size
CoOp-family steps are dominated by the text tower (prompts for all C classes, forward + backward), so
their ratio is small; see docs/fewshot.md.

    python bench/fewshot.py [--methods clip_adapter coop] [--k 4] [--epochs 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# bench/zeroshot.py would shadow the zeroshot package when this file is run as a script
_HERE = Path(__file__).resolve().parent
sys.path[:] = [q for q in sys.path if Path(q or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

import medclip  # noqa: E402
from medclip.config import load_config  # noqa: E402
from medclip.fewshot.config import FewShotMethodConfig  # noqa: E402
from medclip.fewshot.fit import fit_fewshot, prior_weights  # noqa: E402
from medclip.fewshot.valsplit import ValSplit  # noqa: E402
from zeroshot.data import resolve_items  # noqa: E402
from zeroshot.fewshot.features import FeatureStore  # noqa: E402
from zeroshot.fewshot.sampler import dassl_fewshot  # noqa: E402
from zeroshot.suites import class_prompts, load_suite  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "fewshot"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="medclip-small")
    p.add_argument("--methods", nargs="+", default=["clip_adapter", "coop"])
    p.add_argument("--target-method", default="clip_adapter")
    p.add_argument("--k", type=int, default=4)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--views", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model, preprocess, tok = (
        medclip.models.create_model_from_checkpoint(args.model)
        if Path(args.model).is_file()
        else medclip.create_model(args.model)
    )
    suite = load_suite("demo")
    ds = suite.datasets[0]
    train = resolve_items(suite, ds, ds.probe_train)
    val_items = resolve_items(suite, ds, ds.probe_val)
    idx = dassl_fewshot(train.labels.tolist(), val_items.labels.tolist(), args.k, 1)
    sources = [train.sources[i] for i in idx["train"]]
    keys = [train.keys[i] for i in idx["train"]]
    y = torch.as_tensor(train.labels[idx["train"]])
    names = [c.name for c in ds.classes]
    prompts = class_prompts(ds)  # the demo presets build on the suite prompt ensemble (zs_prior: suite)
    vstore = FeatureStore(model, preprocess)
    val = ValSplit(
        vstore.eval_features([val_items.sources[i] for i in idx["val"]], [val_items.keys[i] for i in idx["val"]]),
        torch.as_tensor(val_items.labels[idx["val"]]),
    )
    print(f"support: K={args.k}, {len(y)} images, {len(names)} classes; epochs {args.epochs}; views {args.views}")
    results = {}
    for method in args.methods:
        cfg = load_config(
            FewShotMethodConfig,
            CONFIGS / f"{method}_demo.yaml",
            [f"optim.epochs={args.epochs}", f"feature_views={args.views}"],
        )
        store = FeatureStore(model, preprocess, min_scale=cfg.aug_min_scale)
        # the zero-shot prior's text encodings are memoized per model: encode them before either timed run so
        # that neither pays for them (they do not depend on how image features are obtained)
        prior_weights(cfg, model, tok, names, prompts)
        t0 = time.perf_counter()
        views = store.view_features(sources, keys, cfg.feature_views)
        t_cache = time.perf_counter() - t0
        fit_fewshot(cfg, model, tok, names, train_views=views, train_labels=y, val=val, seed=1, class_prompts=prompts)
        t_cached = time.perf_counter() - t0
        online = FeatureStore(model, preprocess, min_scale=cfg.aug_min_scale)
        t0 = time.perf_counter()
        fit_fewshot(
            cfg,
            model,
            tok,
            names,
            train_views=views,
            train_labels=y,
            val=val,
            seed=1,
            class_prompts=prompts,
            features=online.online_features(sources),
        )
        t_online = time.perf_counter() - t0
        speed = t_online / max(1e-9, t_cached - t_cache)
        results[method] = speed
        print(
            f"{method}: cache build {t_cache:.2f}s ({store.encoded_images} images) + train "
            f"{t_cached - t_cache:.2f}s = {t_cached:.2f}s; online re-encoding {t_online:.2f}s "
            f"({online.encoded_images} images); training speedup {speed:.2f}x "
            f"(with the cache build counted: {t_online / max(1e-9, t_cached):.2f}x)"
        )
    print(f"fewshot_cache_speedup: {results[args.target_method]:.2f} (target >= 5)")


if __name__ == "__main__":
    main()
