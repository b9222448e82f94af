"""Image sources for the shard builder: demo generator, image folders, CSV tables, DICOM, NIfTI, image-text
pairs (``pairs``: captions or reports from CSV / JSONL / Parquet / HF / webdataset).

Each source module registers its class in :data:`SOURCES` (a :class:`medclip.registry.Registry`, kind
"data source") with ``@register_source("type", ConfigDataclass)``, so a new source type is one file;
:data:`SOURCE_TYPES` is the older read-only ``type -> (config dataclass, class)`` view of the same registry.
Optional readers (pydicom, nibabel) are imported only when such a source is used.
"""

from . import demo  # noqa: F401,E402  (registers "demo")
from .base import (
    MODALITIES,
    SKIP_REASONS,
    SOURCE_TYPES,
    SOURCES,
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
    "SOURCES",
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
    """Instantiate the source ``name`` of type ``typ`` from its typed config.

    Args:
        name: the source's name (prefix of its sample keys).
        typ: a registered source type (unknown ones raise ValueError with the closest names).
        cfg: an instance of the type's config dataclass.
        seed: the build seed.

    Returns:
        The source object (``items()`` / ``load(item)``).
    """
    return SOURCES.get(typ)(name, cfg, seed=seed)


def _register_optional() -> None:
    # these modules import their readers (pydicom, nibabel) lazily, so registering them is cheap
    from . import demo_reports, dicom, files, nifti, pairs  # noqa: F401


_register_optional()
