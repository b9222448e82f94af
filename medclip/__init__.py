"""medclip: contrastive medical image-text pretraining, evaluation, prompt learning and model merging.

``import medclip`` is cheap: torch, open_clip and the model registry load on first use of
``medclip.create_model`` / ``medclip.models``. medclip's architectures are registered with open_clip as
soon as both are imported, in either order, so after ``import medclip, open_clip`` plain
``open_clip.create_model_and_transforms("medclip-small", pretrained=ckpt)`` works.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
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


class _RegisterWithOpenClip(importlib.abc.MetaPathFinder):
    """Import hook: once ``open_clip`` is imported (later, by anyone), publish medclip's architectures to it."""

    def find_spec(self, name, path=None, target=None):
        if name != "open_clip":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            importlib.import_module("medclip.models")

        spec.loader.exec_module = exec_then_register
        return spec


if "open_clip" in sys.modules:  # open_clip is loaded anyway: publish the medclip architectures to it now
    importlib.import_module("medclip.models")
else:
    sys.meta_path.insert(0, _RegisterWithOpenClip())
