"""Source protocol, registry and the records that flow from sources to the shard builder.

A source is configured by a typed dataclass (one per ``type``) and implements two methods:

* ``items() -> list[Item]``: cheap enumeration (file listing, CSV rows, DICOM headers without pixels);
  deterministic order. Problems found here are returned as :class:`Skip` records instead of items.
* ``load(item) -> Loaded``: decode one image (called in worker processes); raises :class:`SkipError` with
  a reason for bad inputs.

Sources are rebuilt from their config inside each worker, so items only carry picklable references.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from medclip.imaging.errors import DecodeError
from medclip.registry import Registry

MODALITIES = ("xray", "ct", "mri", "ultrasound", "pathology", "fundus", "other")
MODALITY_ALIASES = {
    "us": "ultrasound",
    "histo": "pathology",
    "histopathology": "pathology",
    "cxr": "xray",
    "x-ray": "xray",
    "mr": "mri",
    "retina": "fundus",
}
SKIP_REASONS = (
    "unreadable",
    "zero_size",
    "too_small",
    "missing_labels",
    "unsupported",
    "excluded",
    "no_pixels",
    "duplicate",
    "missing_image",
    "empty_text",
    "near_duplicate",
    "filtered",
)
_NAME_RE = re.compile(r"^[a-z0-9_]+$")


def normalize_modality(value: str) -> str:
    """Canonical modality name (aliases ``us``, ``histo``... accepted); ValueError if unknown."""
    v = value.strip().lower()
    v = MODALITY_ALIASES.get(v, v)
    if v not in MODALITIES:
        raise ValueError(f"unknown modality {value!r}; expected one of {', '.join(MODALITIES)}")
    return v


def check_source_name(name: str) -> str:
    """Source names become key prefixes: lower-case letters, digits and underscores only."""
    if not _NAME_RE.match(name):
        raise ValueError(f"source name {name!r} must match [a-z0-9_]+ (it prefixes every sample key)")
    return name


def hashed_id(text: str, n: int = 16) -> str:
    """Short stable id for a path (used where a file name could carry identifiers, e.g. DICOM UIDs)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:n]


@dataclass(frozen=True)
class Item:
    """One image to build: metadata known at enumeration time plus a picklable reference for loading."""

    source: str
    source_id: str
    split: str
    modality: str
    anatomy: str
    labels: tuple[str, ...]
    ref: Any = None


@dataclass
class Loaded:
    """A decoded image. ``pixels`` is uint8 HxW (grayscale) or HxWx3 (RGB).

    ``data``/``ext`` optionally carry the original encoded bytes (jpg/png) when they can be stored as-is.
    """

    pixels: np.ndarray
    data: bytes | None = None
    ext: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Skip:
    """A bad input: which item (source + id, never a patient identifier) and why."""

    source: str
    source_id: str
    reason: str
    detail: str = ""
    split: str = ""


# one error type from the shared decoders (medclip.imaging) to the builder: a skip with a reason
SkipError = DecodeError


class Source(Protocol):
    """What the builder needs from a source."""

    name: str

    def items(self) -> list[Item | Skip]: ...

    def load(self, item: Item) -> Loaded: ...


# ``sources.<name>.type`` -> source class, with its config dataclass as the ``config`` metadata
SOURCES: Registry[Callable[..., Source]] = Registry("data source")


class _SourceTypes(Mapping):
    """Read-only ``type -> (config dataclass, source class)`` view of :data:`SOURCES` (the older interface)."""

    def __getitem__(self, type_name: str) -> tuple[type, Callable[..., Source]]:
        if type_name not in SOURCES:
            raise KeyError(type_name)
        return SOURCES.meta(type_name)["config"], SOURCES.get(type_name)

    def __iter__(self) -> Iterator[str]:
        return iter(SOURCES)

    def __len__(self) -> int:
        return len(SOURCES)


SOURCE_TYPES: Mapping[str, tuple[type, Callable[..., Source]]] = _SourceTypes()


def register_source(type_name: str, config_cls: type, *, replace: bool = False, **meta: Any):
    """Class decorator registering a source implementation and its config dataclass under ``type_name``.

    Args:
        type_name: the ``sources.<name>.type`` value that selects it.
        config_cls: the dataclass its settings are validated against.
        replace: override an already registered type (otherwise a taken name is a ValueError).
        **meta: extra metadata stored in :data:`SOURCES`.

    Returns:
        A decorator that registers and returns the class unchanged.
    """
    return SOURCES.register(type_name, replace=replace, config=config_cls, **meta)
