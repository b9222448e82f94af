"""medclip: contrastive medical image-text pretraining, evaluation, prompt learning and model merging.

``import medclip`` is cheap: torch, open_clip and the model registry load on first use of
``medclip.create_model`` / ``medclip.models`` (or at once when open_clip is already imported). Importing
``medclip.models`` registers medclip's architectures with open_clip, after which plain
``open_clip.create_model_and_transforms("medclip-small", pretrained=ckpt)`` works.
"""

from __future__ import annotations

import importlib
import sys

__version__ = "0.1.0"
__all__ = ["__version__", "create_model", "get_tokenizer", "list_models", "models"]

_LAZY = {"create_model": "medclip.models", "get_tokenizer": "medclip.models", "list_models": "medclip.models"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in {"models", "config", "data", "losses", "train", "prompt", "adapters", "merge", "zeroshot_head"}:
        return importlib.import_module(f"medclip.{name}")
    raise AttributeError(f"module 'medclip' has no attribute {name!r}")


if "open_clip" in sys.modules:  # open_clip is loaded anyway: publish the medclip architectures to it now
    importlib.import_module("medclip.models")
