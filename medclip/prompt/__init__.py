"""Prompt learners over frozen CLIP towers: CoOp, CoCoOp, KgCoOp, ProGrad, BiomedCoOp, vmfcoop_ours.

All share :class:`~medclip.prompt.splice.SplicedTextEncoder` (both open_clip and HF-BERT text towers) and
the Dassl training loop of :mod:`medclip.prompt.engine`. ``fit_fewshot`` builds any few-shot method
(including the adapters of :mod:`medclip.adapters`) from a :class:`FewShotMethodConfig`.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "SplicedTextEncoder": "splice",
    "PromptLearner": "base",
    "CoOp": "base",
    "CoCoOp": "cocoop",
    "KgCoOp": "kgcoop",
    "ProGrad": "prograd",
    "BiomedCoOp": "biomedcoop",
    "VmfCoOpOurs": "vmfcoop",
    "FewShotMethodConfig": "config",
    "METHODS": "config",
    "fit_fewshot": "fit",
    "build_prompt_learner": "fit",
    "train_learner": "engine",
    "load_bank": "bank",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
