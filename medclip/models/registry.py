"""Registry of medclip model architectures, registered into open_clip's own config table.

Architectures are JSON files in ``model_configs/`` (open_clip's format). Placeholders in string values
resolve to local folders: ``${MINILM}`` (the pretrained MiniLM from its PyPI package; resolved at import)
and ``${TINY_BERT}`` (a tiny random BERT built locally; resolved at first use through medclip). After
``import medclip.models`` the registered names also work in plain ``open_clip.create_model_and_transforms``.
"""

from __future__ import annotations

import copy
import difflib
import json
from pathlib import Path

import open_clip
from open_clip import factory as _oc_factory

from . import timm_micro  # noqa: F401  (registers the micro timm ViT used by stand-ins)
from .local_text import minilm_path, tiny_bert_path

CONFIG_DIR = Path(__file__).parent / "model_configs"
_PLACEHOLDERS = {"${MINILM}": minilm_path, "${TINY_BERT}": tiny_bert_path}
_LAZY_PLACEHOLDERS = ("${TINY_BERT}",)  # these build files on first use; ${MINILM} is a cheap path lookup
_MEDCLIP_MODELS: dict[str, dict] = {}


def _resolve(value):
    if isinstance(value, dict):
        return {k: _resolve(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [_resolve(v) for v in value]
    if isinstance(value, str) and value in _PLACEHOLDERS:
        return str(_PLACEHOLDERS[value]())
    return value


def _needs(value, placeholder: str) -> bool:
    return placeholder in json.dumps(value)


def register_model_config(name: str, config: dict) -> None:
    """Register an architecture under ``name`` for both medclip and open_clip.

    Args:
        name: model name, e.g. ``"medclip-small"``.
        config: an open_clip model config (``embed_dim``, ``vision_cfg``, ``text_cfg`` ...). Strings equal to
            a placeholder (``${MINILM}``, ``${TINY_BERT}``) are resolved lazily, at first use.
    """
    for key in ("embed_dim", "vision_cfg", "text_cfg"):
        if key not in config:
            raise ValueError(f"model config {name!r} lacks {key!r}")
    _MEDCLIP_MODELS[name] = copy.deepcopy(config)
    if not any(_needs(config, p) for p in _LAZY_PLACEHOLDERS):
        _oc_factory._MODEL_CONFIGS[name] = _resolve(config)


def ensure_registered(name: str) -> None:
    """Resolve placeholders of ``name`` (building the tiny BERT if needed) and publish it to open_clip."""
    if name in _MEDCLIP_MODELS and name not in _oc_factory._MODEL_CONFIGS:
        _oc_factory._MODEL_CONFIGS[name] = _resolve(_MEDCLIP_MODELS[name])


def _register_builtin() -> None:
    for path in sorted(CONFIG_DIR.glob("*.json")):
        with open(path) as f:
            register_model_config(path.stem, json.load(f))


def list_models(include_open_clip: bool = False) -> list[str]:
    """Names of medclip's registered architectures (plus open_clip's own with ``include_open_clip``)."""
    names = list(_MEDCLIP_MODELS)
    if include_open_clip:
        names += [n for n in open_clip.list_models() if n not in _MEDCLIP_MODELS]
    return names


def get_model_config(name: str) -> dict:
    """The resolved open_clip config dict of a registered (medclip or open_clip) architecture."""
    ensure_registered(name)
    cfg = _oc_factory.get_model_config(name)
    if cfg is None:
        raise unknown_model_error(name)
    return cfg


def unknown_model_error(name: str) -> ValueError:
    """A ValueError naming the closest registered model names."""
    candidates = list_models(include_open_clip=True)
    close = difflib.get_close_matches(name, candidates, n=4, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return ValueError(
        f"unknown model {name!r}.{hint} medclip models: {', '.join(list_models())}; "
        "any open_clip name, 'hf-hub:<repo>' or 'local-dir:<folder>' also works."
    )


_register_builtin()
