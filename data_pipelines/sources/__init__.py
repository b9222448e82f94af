"""Image sources for the shard builder: demo generator, image folders, CSV tables, DICOM, NIfTI.

Each source type registers ``(config dataclass, implementation)`` in :data:`SOURCE_TYPES`; optional readers
(pydicom, nibabel) are imported only when such a source is used.
"""

from . import demo  # noqa: F401,E402  (registers "demo")
from .base import (
    MODALITIES,
    SKIP_REASONS,
    SOURCE_TYPES,
    Item,
    Loaded,
    Skip,
    SkipError,
    check_source_name,
    normalize_modality,
    register_source,
)

__all__ = [
    "MODALITIES",
    "SKIP_REASONS",
    "SOURCE_TYPES",
    "Item",
    "Loaded",
    "Skip",
    "SkipError",
    "build_source",
    "check_source_name",
    "normalize_modality",
    "register_source",
]


def build_source(name: str, typ: str, cfg, *, seed: int):
    """Instantiate the source ``name`` of type ``typ`` from its typed config."""
    return SOURCE_TYPES[typ][1](name, cfg, seed=seed)


def _register_optional() -> None:
    # these modules import their readers (pydicom, nibabel) lazily, so registering them is cheap
    from . import dicom, files, nifti  # noqa: F401


_register_optional()
