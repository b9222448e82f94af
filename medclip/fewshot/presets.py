"""Compose a method's config: its defaults, a preset overlay, then dotted overrides.

``configs/fewshot/<method>.yaml`` holds a method's defaults (the BiomedCoOp-protocol values); a preset is
one file ``configs/fewshot/presets/<preset>.yaml`` with one section per method, merged over the defaults::

    # presets/demo.yaml
    coop:
      feature_views: 4
      optim: {epochs: 25}

A method that is not shipped reads the YAML named by its ``defaults`` metadata (or only the dataclass
defaults); a method without a section in the preset keeps its defaults; a section naming no registered
method is an error. ``--preset`` also takes the path of a user's overlay file in the same layout.
"""

from __future__ import annotations

from pathlib import Path

from ..config import ConfigError, apply_overrides, deep_merge, from_dict, read_yaml
from ..resources import config_dir
from . import methods  # noqa: F401  (registers the built-in methods)
from .config import config_class
from .registry import METHODS, method_meta


def presets_dir() -> Path:
    """The shipped preset overlays (``configs/fewshot/presets``)."""
    return config_dir("fewshot") / "presets"


def preset_names() -> list[str]:
    """Names of the shipped presets (``demo``, ``original``, ``biomedcoop`` ...)."""
    return sorted(p.stem for p in presets_dir().glob("*.yaml"))


def default_file(method: str) -> Path | None:
    """The YAML of ``method``'s defaults: shipped ``configs/fewshot/<method>.yaml``, else its ``defaults`` file."""
    shipped = config_dir("fewshot") / f"{method}.yaml"
    if shipped.is_file():
        return shipped
    own = method_meta(method)["defaults"]
    return Path(own) if own else None


def preset_file(preset: str) -> Path:
    """The overlay file of ``preset`` (a shipped name or a path to a YAML file)."""
    shipped = presets_dir() / f"{preset}.yaml"
    if shipped.is_file():
        return shipped
    if Path(preset).suffix in (".yaml", ".yml") and Path(preset).is_file():
        return Path(preset)
    raise ConfigError(f"unknown preset {preset!r}; shipped presets: {', '.join(preset_names())} (or a YAML path)")


def preset_section(preset: str, method: str) -> dict:
    """``method``'s section of ``preset`` (``{}`` when the preset does not mention it)."""
    path = preset_file(preset)
    data = read_yaml(path)
    for name, section in data.items():
        if name not in METHODS:
            raise ConfigError(f"{path}: {METHODS.unknown_message(name)}")
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: section {name!r} must be a mapping, got {section!r}")
    return data.get(method) or {}


def resolve(method: str, preset: str | None = None, overrides: list[str] | None = None):
    """The typed config of ``method``: defaults ← ``preset`` section ← ``overrides``.

    Returns:
        ``(config, source)`` with ``source`` naming the files read (for reports).
    """
    METHODS.get(method)
    base = default_file(method)
    data = read_yaml(base) if base else {}
    sources = [str(base) if base else f"{method} (dataclass defaults)"]
    if preset:
        data = deep_merge(data, preset_section(preset, method))
        sources.append(f"{preset_file(preset)}[{method}]")
    data = deep_merge({"method": method}, data)
    if data["method"] != method:
        raise ConfigError(f"{base} is for method {data['method']!r}, not {method!r}")
    apply_overrides(data, overrides)
    return from_dict(config_class(), data), " + ".join(sources)
