"""Built-in merge methods, one family per file; each registers itself in :data:`..registry.MERGE_METHODS`.

Importing this package imports the families below in that order (it is the default order of
``merge.methods`` and of the report's rows), then every other module of this folder in name order: a new
built-in family is one new file here. Methods of other packages use the ``medclip.merge_methods``
entry-point group instead (docs/merging.md).
"""

from __future__ import annotations

import importlib
import pkgutil

FAMILIES = ("endpoints", "static_merges", "ensemble", "dawin", "t3", "controls")


def _import_all() -> None:
    others = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in FAMILIES)
    for name in (*FAMILIES, *others):
        importlib.import_module(f"{__name__}.{name}")


_import_all()
