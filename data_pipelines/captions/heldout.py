"""The held-out eval caption bank (spec section 4, eval hygiene) and its overlap with the training captions.

A second bank per (modality, anatomy, labels) triple, generated with another prompt (``eval_prompt``), another
seed (``eval_seed``) and, for the ``knowledge`` backend, a disjoint pattern set in a plain-description register.
Its captions serve as evaluation prompts that the model never saw in training; the report measures how far
they really are from the training captions (:func:`data_pipelines.captions.prompt_overlap`).

    doc = heldout_bank(cfg, [("xray", "chest", ["pneumonia"])], {"xray|chest|pneumonia": train_captions})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .bank import LabelError
from .config import CaptionConfig
from .converter import CaptionConverter
from .overlap import prompt_overlap

FORMAT = "medclip-eval-captions/1"
_VOLATILE = ("llm_calls", "llm_errors", "cache_hits", "cache_misses", "records")


def heldout_bank(
    cfg: CaptionConfig,
    triples: Sequence[tuple[str, str, Sequence[str]]],
    train_captions: Mapping[str, Sequence[str]],
    *,
    ids: Sequence[str] | None = None,
    llm=None,
) -> dict:
    """Generate the held-out bank of ``triples`` and compare it with the training captions.

    Args:
        cfg: The training caption config; its :meth:`CaptionConfig.heldout` variant generates the bank.
        triples: ``(modality, anatomy, labels)`` per class, as given to the training converter.
        train_captions: Training captions per class id (same order / ids as ``triples``).
        ids: Class ids (default ``modality|anatomy|label+label``).
        llm: Optional LLM backend object for the held-out converter (as ``CaptionConverter(llm=...)``).

    Returns:
        A JSON-serialisable document: ``format``, ``config`` (backend, prompt, seed, patterns), ``classes``
        (id -> modality, anatomy, labels, captions, bank_id, backend, fallback), ``stats`` and ``overlap``
        (``all``: every eval caption against every training caption; ``per_class``: each class's eval
        captions against the same class's training captions; ``max_same_class_jaccard``).
    """
    hcfg = cfg.heldout()
    conv = CaptionConverter(hcfg, llm=llm)
    ids = list(ids) if ids is not None else [f"{m}|{a}|{'+'.join(labs)}" for m, a, labs in triples]
    banks = conv.banks([(m, a, list(labs)) for m, a, labs in triples], errors="return")
    classes, per_class = {}, {}
    for tid, bank in zip(ids, banks):
        if isinstance(bank, LabelError) or tid not in train_captions:
            continue
        classes[tid] = {
            "modality": bank.modality,
            "anatomy": bank.anatomy,
            "labels": list(bank.record_labels),
            "captions": list(bank.captions),
            "bank_id": bank.bank_id,
            "backend": bank.backend,
            "fallback": bank.fallback,
        }
        ov = prompt_overlap(bank.captions, train_captions[tid])
        per_class[tid] = {k: ov[k] for k in ("exact", "near_duplicates", "max_jaccard", "ngram_overlap")}
    everything = prompt_overlap(
        [c for v in classes.values() for c in v["captions"]], [c for t in classes for c in train_captions[t]]
    )
    return {
        "format": FORMAT,
        "config": {"backend": hcfg.backend, "prompt": hcfg.prompt, "seed": hcfg.seed, "patterns": hcfg.patterns},
        "classes": classes,
        "stats": {k: v for k, v in conv.stats().items() if k not in _VOLATILE},
        "overlap": {
            "all": everything,
            "per_class": per_class,
            "max_same_class_jaccard": max((v["max_jaccard"] for v in per_class.values()), default=0.0),
            "exact_total": sum(v["exact"] for v in per_class.values()),
            "near_duplicates_total": sum(v["near_duplicates"] for v in per_class.values()),
        },
    }
