"""Class sets a request can name: the datasets of the shipped suites (``configs/eval/*.yaml``).

A class set is ``<suite>/<dataset>`` (e.g. ``demo/demo``). Its prompts are, per class, the explicit
``prompts`` or (name + synonyms) x the dataset's templates, as the zero-shot evaluator builds them. Saved
temperatures (``<checkpoint>.calibration.json``, written by ``medclip-eval --calibrate``) are read here too.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from medclip.resources import config_dir

from .errors import ApiError

DEFAULT_TEMPLATES = ("a medical image of {}.",)


@dataclass(frozen=True)
class ClassSet:
    """One named class set: class names, their modalities and the prompts of each class."""

    key: str
    names: tuple[str, ...]
    modalities: tuple[str, ...]
    prompts: tuple[tuple[str, ...], ...]
    templates: tuple[str, ...]

    def public(self) -> dict:
        return {
            "id": self.key,
            "classes": [{"name": n, "modality": m} for n, m in zip(self.names, self.modalities)],
            "templates": list(self.templates),
        }


def expand(names: list[str], templates: list[str]) -> list[str]:
    """Every name in every template (``{}`` replaced), names outer."""
    return [t.replace("{}", n) for n in names for t in templates]


def _class_set(suite: str, ds: dict, template_sets: dict) -> ClassSet:
    templates = list(ds.get("templates") or template_sets.get(ds.get("template_set"), []) or DEFAULT_TEMPLATES)
    names, mods, prompts = [], [], []
    for c in ds.get("classes") or []:
        c = {"name": c} if isinstance(c, str) else c
        names.append(str(c["name"]))
        mods.append(str(c.get("modality") or ds.get("modality") or "other"))
        own = c.get("prompts")
        prompts.append(tuple(own) if own else tuple(expand([c["name"], *(c.get("synonyms") or [])], templates)))
    return ClassSet(f"{suite}/{ds['name']}", tuple(names), tuple(mods), tuple(prompts), tuple(templates))


@functools.lru_cache(maxsize=1)
def class_sets() -> dict[str, ClassSet]:
    """Every dataset of every shipped suite, keyed ``suite/dataset`` (read once)."""
    out: dict[str, ClassSet] = {}
    for path in sorted(config_dir("eval").glob("*.yaml")):
        spec = yaml.safe_load(path.read_text()) or {}
        suite = str(spec.get("name") or path.stem)
        for ds in spec.get("datasets") or []:
            if ds.get("classes"):
                cs = _class_set(suite, ds, spec.get("template_sets") or {})
                out[cs.key] = cs
    return out


def get_class_set(key: str) -> ClassSet:
    """The class set ``suite/dataset``; a bare suite name with one dataset, or ``demo`` -> ``demo/demo``.

    Raises:
        ApiError: 404 with the closest known names.
    """
    sets = class_sets()
    if key in sets:
        return sets[key]
    if f"{key}/{key}" in sets:
        return sets[f"{key}/{key}"]
    close = difflib.get_close_matches(key, list(sets), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; see GET /v1/classsets"
    raise ApiError(404, "unknown_class_set", f"unknown class set {key[:80]!r}{hint}")


def calibration_path(model_path: str | os.PathLike) -> Path:
    """``<checkpoint>.calibration.json`` beside a checkpoint, ``<folder>/calibration.json`` in an export."""
    p = Path(model_path)
    return p / "calibration.json" if p.is_dir() else p.with_name(p.name + ".calibration.json")


def read_temperatures(model_path: str | os.PathLike | None) -> dict[str, float]:
    """``{"suite/dataset": temperature}`` saved with a model; empty when there is no (valid) file."""
    if model_path is None:
        return {}
    path = calibration_path(model_path)
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    if data.get("format") != 1 or not isinstance(data.get("temperatures"), dict):
        raise ValueError(f"{path}: not a medclip calibration file (format 1)")
    out = {}
    for key, entry in data["temperatures"].items():
        t = float(entry.get("temperature", 0)) if isinstance(entry, dict) else 0.0
        if t > 0:
            out[key] = t
    return out
