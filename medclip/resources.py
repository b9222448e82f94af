"""Locate the configuration files medclip ships (suites, few-shot presets, train/data/merge configs, banks).

The repository's top-level ``configs/`` folder is installed as the package ``medclip_configs`` (see
``setup.py``), so a wheel installed anywhere finds the same files through :mod:`importlib.resources`::

    from medclip.resources import config_dir, config_file
    config_dir("eval")                    # folder of the built-in evaluation suites
    config_file("train", "demo.yaml")     # one shipped file (ValueError naming the choices if absent)

A source checkout that was never installed (``PYTHONPATH=.``) falls back to ``<repo>/configs``.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
from pathlib import Path

PACKAGE = "medclip_configs"
FAMILIES = ("data", "eval", "fewshot", "merge", "train")


def config_root() -> Path:
    """The folder holding the shipped configuration families (``eval/``, ``fewshot/``, ``train/`` ...)."""
    if importlib.util.find_spec(PACKAGE) is not None:
        root = importlib.resources.files(PACKAGE)
        if not isinstance(root, Path):  # a zipped install; pip always unpacks wheels
            raise RuntimeError(f"{PACKAGE} is not installed as plain files ({root!r}); reinstall medclip with pip")
        return root
    checkout = Path(__file__).resolve().parents[1] / "configs"
    if checkout.is_dir():
        return checkout
    raise RuntimeError(f"medclip's configuration files are missing: no package {PACKAGE!r}; reinstall medclip")


def config_dir(family: str) -> Path:
    """Folder of one configuration family, e.g. ``config_dir("eval")``.

    Args:
        family: one of :data:`FAMILIES`.

    Raises:
        ValueError: ``family`` is not a shipped family.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown config family {family!r}; choose from {', '.join(FAMILIES)}")
    return config_root() / family


def config_file(*parts: str) -> Path:
    """One shipped file, e.g. ``config_file("train", "demo.yaml")``.

    Args:
        *parts: family, then the path inside it.

    Raises:
        ValueError: the file is not shipped (the message lists the family's files).
    """
    if not parts:
        raise ValueError("config_file needs a family and a file name")
    path = config_dir(parts[0]).joinpath(*parts[1:])
    if not path.is_file():
        known = sorted(p.name for p in config_dir(parts[0]).glob("*") if p.is_file() and p.suffix != ".py")
        raise ValueError(f"no shipped config {'/'.join(parts)!r}; {parts[0]}/ holds: {', '.join(known)}")
    return path


def resolve_config_path(path: str | Path) -> Path:
    """``path`` itself when it exists, else the shipped file it names (``configs/train/demo.yaml``).

    Lets the documented ``--config configs/<family>/<file>`` work from any folder once medclip is installed.
    Paths that name no shipped file are returned unchanged, so the caller's not-found error stays.
    """
    p = Path(path)
    if p.exists():
        return p
    parts = p.parts
    if len(parts) >= 3 and parts[0] == "configs" and parts[1] in FAMILIES:
        shipped = config_root().joinpath(*parts[1:])
        if shipped.is_file():
            return shipped
    return p
