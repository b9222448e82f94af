"""A tiny generated few-shot suite for tests of ``medclip-fewshot``: three colour classes in ImageFolder splits.

``write_color_suite(root, counts, noise=..., size=...)`` writes ``root/data/{train,val,test}/<class>/<i>.png``
(the class colour plus Gaussian noise, one ``numpy`` generator seeded 0, filled split by split, class by class)
and ``root/tiny.yaml``, a suite with one dataset ``colors`` whose evaluation split is ``test`` and whose
``probe_train`` / ``probe_val`` are ``train`` / ``val``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from PIL import Image

CLASSES = {"red": (200, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 200)}


def write_color_suite(
    root: Path,
    counts: dict[str, int],
    *,
    noise: float,
    size: int,
    templates: tuple[str, ...] = ("a {} image.",),
) -> Path:
    """Write the images (``counts`` per class per split) and the suite; return the suite file ``root/tiny.yaml``."""
    rng = np.random.default_rng(0)
    for split, n in counts.items():
        for name, rgb in CLASSES.items():
            d = root / "data" / split / name
            d.mkdir(parents=True)
            for i in range(n):
                img = np.clip(np.array(rgb) + rng.normal(0, noise, (size, size, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(img).save(d / f"{i}.png")
    spec = {
        "name": "tiny",
        "data_root": str(root / "data"),
        "datasets": [
            {
                "name": "colors",
                "modality": "other",
                "layout": "imagefolder",
                "path": "test",
                "probe_train": "train",
                "probe_val": "val",
                "templates": list(templates),
                "classes": [{"name": c} for c in CLASSES],
            }
        ],
    }
    (root / "tiny.yaml").write_text(yaml.safe_dump(spec))
    return root / "tiny.yaml"
