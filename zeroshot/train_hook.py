"""Registers the ``zeroshot`` evaluator with medclip's trainer (imported by the root ``train.py``).

Config (``eval.args`` of a training YAML)::

    eval:
      name: zeroshot
      every_n_epochs: 1
      args:
        suite: demo              # suite name or YAML path
        data_root: data/shards/demo   # default: the suite's own root
        path: val                # read this folder instead of each dataset's own (e.g. the val split)
        datasets: [demo]         # default: every dataset that is not a shifted copy
        max_samples: 2000        # per dataset (seeded subset); null = all
        batch_size: 128
        workers: 2

Every rank encodes a strided slice of the images; cosine scores are all-gathered, so each rank computes the
same metrics and returns the identical dict: ``zeroshot/<dataset>/<metric>``, per-modality
``zeroshot/<dataset>/<metric>/<modality>`` for breakdown datasets, and ``zeroshot/mean``. Datasets whose
files are absent are skipped with a warning (an error only when none can be read).
"""

from __future__ import annotations

import dataclasses
import logging

from medclip.train.evaluators import register_evaluator

from .classifier import eval_transform
from .evaluate import EvalOptions, evaluate_dataset
from .suites import load_suite, select

log = logging.getLogger(__name__)
ARGS = ("suite", "data_root", "path", "datasets", "max_samples", "batch_size", "workers", "seed")


@register_evaluator("zeroshot")
def make_zeroshot_evaluator(args: dict):
    """Factory: validate ``args`` now (bad suite names fail at startup, not after the first epoch)."""
    unknown = sorted(set(args) - set(ARGS))
    if unknown:
        raise ValueError(f"eval.args: unknown key(s) {unknown} for the zeroshot evaluator; valid: {', '.join(ARGS)}")
    suite = load_suite(args.get("suite", "demo"), args.get("data_root"))
    datasets = (
        select(suite, args.get("datasets")) if args.get("datasets") else [d for d in suite.datasets if not d.shift_of]
    )
    opts = EvalOptions(
        batch_size=int(args.get("batch_size", 128)),
        workers=int(args.get("workers", 2)),
        max_samples=args.get("max_samples", 2000),
        seed=int(args.get("seed", 0)),
        bootstrap=None,  # scalars for the training log: no CIs (the CLI report has them)
        keep_scores=False,
    )
    path = args.get("path")
    warned: set[str] = set()

    def evaluate(model, tokenizer, *, device, rank: int, world_size: int, step: int, epoch: int) -> dict:
        model = getattr(model, "module", model)
        was_training = model.training
        model.eval()
        preprocess = eval_transform(model)
        out: dict[str, float] = {}
        try:
            for ds in datasets:
                spec = dataclasses.replace(ds, path=path) if path else ds
                r = evaluate_dataset(
                    model,
                    tokenizer,
                    suite,
                    spec,
                    preprocess=preprocess,
                    device=device,
                    opts=opts,
                    rank=rank,
                    world_size=world_size,
                )
                if r["status"] != "ok":  # absent datasets are skipped (e.g. unimed21 with a partial disk)
                    if rank == 0 and r["name"] not in warned:
                        log.warning("zeroshot evaluator: skipping %s", r["message"])
                        warned.add(r["name"])
                    continue
                out[f"zeroshot/{ds.name}/{ds.metric}"] = float(r["score"])
                for mod, b in (r.get("breakdown") or {}).items():
                    out[f"zeroshot/{ds.name}/{ds.metric}/{mod}"] = float(b["score"])
        finally:
            model.train(was_training)
        heads = [v for k, v in out.items() if k.count("/") == 2]
        if not heads:
            raise FileNotFoundError(f"zeroshot evaluator: none of {[d.name for d in datasets]} could be read")
        out["zeroshot/mean"] = float(sum(heads) / len(heads))
        return out

    return evaluate
