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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from medclip.imaging.errors import DecodeError

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


SOURCE_TYPES: dict[str, tuple[type, Callable[..., Source]]] = {}


def register_source(type_name: str, config_cls: type):
    """Class decorator registering a source implementation and its config dataclass under ``type_name``."""

    def deco(cls):
        SOURCE_TYPES[type_name] = (config_cls, cls)
        return cls

    return deco
