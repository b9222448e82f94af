"""Few-shot datasets from evaluation suites: train / val / test items of one suite dataset.

A suite dataset is usable for few-shot runs when it names its training and validation data
(``probe_train`` / ``probe_val``, the same fields the linear probe uses); its own ``path`` is the test
split. In the built-in ``demo`` suite that is the 17-class ``demo`` dataset (train / val / test shards).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..data import Items, resolve_items
from ..suites import DatasetSpec, SuiteSpec, class_prompts


@dataclass
class FewShotData:
    """Class names (label order), the suite's zero-shot prompts, and the three splits."""

    name: str
    classnames: list[str]
    class_prompts: list[list[str]]
    train: Items
    val: Items
    test: Items

    def keys(self, split: str) -> list[str]:
        items = getattr(self, split)
        return items.keys or [str(s) for s in items.sources]


def load_fewshot_data(suite: SuiteSpec, ds: DatasetSpec) -> FewShotData:
    """Resolve the splits of ``ds``; raise ``ValueError`` naming what is missing."""
    if ds.multilabel:
        raise ValueError(f"dataset {ds.name!r} is multi-label; the few-shot protocol needs single-label data")
    if not ds.probe_train or not ds.probe_val:
        raise ValueError(f"dataset {ds.name!r} has no probe_train/probe_val splits; few-shot runs need both")
    return FewShotData(
        name=ds.name,
        classnames=[c.name for c in ds.classes],
        class_prompts=class_prompts(ds),
        train=resolve_items(suite, ds, ds.probe_train),
        val=resolve_items(suite, ds, ds.probe_val),
        test=resolve_items(suite, ds, None),
    )
