"""Knobs of a suite run (:class:`EvalOptions`) and the seeded per-dataset subset (:func:`limit`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .data import Items
from .stats.bootstrap import BootstrapConfig


@dataclass
class EvalOptions:
    """Knobs of a suite run."""

    batch_size: int = 128
    workers: int = 2
    max_samples: int | None = None  # per dataset: a seeded random subset (None = all)
    seed: int = 0
    amp: bool = False  # bf16 autocast for the image tower on CUDA
    cache: dict | None = None  # image source -> feature row, shared within one run (clean images only)
    bootstrap: BootstrapConfig | None = field(default_factory=BootstrapConfig)  # None: no CIs
    feature_store: object | None = None  # zeroshot.feature_store.FeatureStore: features kept across runs
    # while decode workers run, torch uses at most (cores - workers) threads: True = always, False = never,
    # "load" = only when the machine is already busy (1-min load average >= cores; see encode._share_cores)
    auto_threads: bool | str = "load"
    keep_scores: bool = True  # results carry ``_scores`` (cosine, labels, keys) for --compare and analyses


def limit(items: Items, max_samples: int | None, seed: int) -> Items:
    """A seeded random subset of at most ``max_samples`` items, kept in the original order."""
    if max_samples is None or len(items) <= max_samples:
        return items
    idx = np.sort(np.random.default_rng(seed).choice(len(items), size=max_samples, replace=False))
    return items.subset(idx)
