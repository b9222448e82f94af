"""Registry of medclip model architectures, registered into open_clip's own config table.

Architectures are JSON files in ``model_configs/``, plain open_clip configs (see its README.md). Two hub ids
of text towers resolve to local folders (:data:`LOCAL_TEXT_TOWERS`): ``sentence-transformers/all-MiniLM-L6-v2``
(the copy from its PyPI package; resolved at import) and ``medclip-local/tiny-bert`` (a tiny random BERT
built locally; resolved at first use). After ``import medclip.models`` the registered names also work in
plain ``open_clip.create_model_and_transforms``; :func:`open_clip_config` writes a resolved JSON for open_clip
users who do not import medclip.
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
LOCAL_TEXT_TOWERS = {  # hub id in a config -> function returning the local folder used instead
    "sentence-transformers/all-MiniLM-L6-v2": minilm_path,
    "medclip-local/tiny-bert": tiny_bert_path,
}
_LAZY_PLACEHOLDERS = ("medclip-local/tiny-bert",)  # built on first use; the MiniLM one is a cheap path lookup
_MEDCLIP_MODELS: dict[str, dict] = {}


def _resolve(value):
    if isinstance(value, dict):
        return {k: _resolve(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [_resolve(v) for v in value]
    if isinstance(value, str) and value in LOCAL_TEXT_TOWERS:
        return str(LOCAL_TEXT_TOWERS[value]())
    return value


def _needs(value, placeholder: str) -> bool:
    return f'"{placeholder}"' in json.dumps(value)


def register_model_config(name: str, config: dict) -> None:
    """Register an architecture under ``name`` for both medclip and open_clip.

    Args:
        name: model name, e.g. ``"medclip-small"``.
        config: an open_clip model config (``embed_dim``, ``vision_cfg``, ``text_cfg`` ...). Strings equal to
            a key of :data:`LOCAL_TEXT_TOWERS` are replaced by that local folder (the tiny BERT at first use).
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


def open_clip_config(name: str, out: str | Path | None = None) -> dict:
    """The resolved open_clip config of ``name``; with ``out``, also written for ``open_clip.add_model_config``.

    Local text towers (:data:`LOCAL_TEXT_TOWERS`) become absolute folders of this machine, so the written
    file serves open_clip in a process that does not import medclip (on this machine; for another machine,
    export the model with ``medclip-export``).

    Args:
        name: a registered architecture, e.g. ``"medclip-small"``.
        out: a folder (the file is ``<out>/<name>.json``) or a ``.json`` path.

    Returns:
        The config dict (``embed_dim``, ``vision_cfg``, ``text_cfg`` ...).
    """
    cfg = copy.deepcopy(get_model_config(name))
    if out is not None:
        path = Path(out)
        if path.suffix != ".json":
            path.mkdir(parents=True, exist_ok=True)
            path = path / f"{name}.json"
        path.write_text(json.dumps(cfg, indent=2) + "\n")
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
