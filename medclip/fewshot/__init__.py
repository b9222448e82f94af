"""Few-shot adaptation of a frozen CLIP model: prompt learners, feature-space adapters, one registry.

Layout (one concept per file):

* :mod:`.registry`: :data:`METHODS`, :class:`FewShotMethod`, :class:`FitInputs`, :class:`Predictor`;
* :mod:`.methods`: one file per method (its config section, construction, fit and transfer);
* :mod:`.config`: :class:`FewShotMethodConfig` (common fields + the sections the methods register);
* :mod:`.fit`: ``fit_fewshot`` / ``transfer`` over the registry;
* shared machinery: :mod:`.splice` (prompted text encoding for open_clip and HF text towers),
  :mod:`.learner` (the CoOp-family base), :mod:`.head` (the base of CLIP-Adapter / Tip-Adapter-F),
  :mod:`.engine` + :mod:`.schedule` (the Dassl training loop),
  :mod:`.losses`, :mod:`.selection`, :mod:`.vmf`, :mod:`.bank` (prompt banks), :mod:`.valsplit`.

Adding a method is one file (see ``docs/fewshot.md``). Attributes are imported on first use.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "METHODS": "registry",
    "FewShotMethod": "registry",
    "FitInputs": "registry",
    "Predictor": "registry",
    "register_method": "registry",
    "method_meta": "registry",
    "cheapest_first": "registry",
    "FewShotMethodConfig": "config",
    "fit_fewshot": "fit",
    "transfer": "fit",
    "build_prompt_learner": "fit",
    "prior_weights": "learner",
    "PromptLearner": "learner",
    "PromptMethod": "learner",
    "CoOp": "learner",
    "SplicedTextEncoder": "splice",
    "train_learner": "engine",
    "load_bank": "bank",
    "ValSplit": "valsplit",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        if name == "METHODS":
            importlib.import_module(".methods", __name__)  # the registry with the built-in methods in it
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
