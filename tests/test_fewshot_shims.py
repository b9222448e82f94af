"""The pre-registry import paths (``medclip.prompt.*``, ``medclip.adapters.*``) still work, with a warning."""

import importlib
import sys
import warnings

import pytest

MOVED = {
    "medclip.prompt.bank": ("medclip.fewshot.bank", "load_bank"),
    "medclip.prompt.base": ("medclip.fewshot.learner", "CoOp"),
    "medclip.prompt.biomedcoop": ("medclip.fewshot.methods.biomedcoop", "BiomedCoOp"),
    "medclip.prompt.cocoop": ("medclip.fewshot.methods.cocoop", "CoCoOp"),
    "medclip.prompt.config": ("medclip.fewshot.config", "PromptCfg"),
    "medclip.prompt.engine": ("medclip.fewshot.engine", "train_learner"),
    "medclip.prompt.fit": ("medclip.fewshot.fit", "fit_fewshot"),
    "medclip.prompt.kgcoop": ("medclip.fewshot.methods.kgcoop", "KgCoOp"),
    "medclip.prompt.losses": ("medclip.fewshot.losses", "kg_loss"),
    "medclip.prompt.prograd": ("medclip.fewshot.methods.prograd", "ProGrad"),
    "medclip.prompt.schedule": ("medclip.fewshot.schedule", "dassl_lr"),
    "medclip.prompt.selection": ("medclip.fewshot.selection", "select_prompts"),
    "medclip.prompt.splice": ("medclip.fewshot.splice", "SplicedTextEncoder"),
    "medclip.prompt.vmf": ("medclip.fewshot.vmf", "fit_vmf"),
    "medclip.prompt.vmfcoop": ("medclip.fewshot.methods.vmfcoop_ours", "VmfCoOpOurs"),
    "medclip.adapters.clip_adapter": ("medclip.fewshot.methods.clip_adapter", "ClipAdapter"),
    "medclip.adapters.linear_probe": ("medclip.fewshot.methods.linear_probe", "fit_linear_probe"),
    "medclip.adapters.lp_plusplus": ("medclip.fewshot.methods.lp_plusplus", "fit_lp_plusplus"),
    "medclip.adapters.tip_adapter": ("medclip.fewshot.methods.tip_adapter", "TipAdapterF"),
    "medclip.adapters.valsplit": ("medclip.fewshot.valsplit", "ValSplit"),
}


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_path_warns_and_forwards(old):
    new, attr = MOVED[old]
    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    assert any(issubclass(w.category, DeprecationWarning) and new in str(w.message) for w in caught)
    assert getattr(module, attr) is getattr(importlib.import_module(new), attr)


def test_old_config_names():
    from medclip.fewshot import METHODS, FewShotMethodConfig
    from medclip.prompt import fit_fewshot
    from medclip.prompt.config import METHODS as OLD_METHODS
    from medclip.prompt.config import FewShotMethodConfig as OldConfig

    assert OLD_METHODS == tuple(METHODS) and len(OLD_METHODS) == 12
    assert OldConfig is FewShotMethodConfig
    assert fit_fewshot is importlib.import_module("medclip.fewshot.fit").fit_fewshot
