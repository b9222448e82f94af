"""A tiny two-modality shard suite for tests of ``medclip-merge`` (in-process and through the console script).

``write_split(folder, n_per_class, seed)`` writes one tar ``<folder.name>-000000.tar`` of ``n_per_class`` rounds
over :data:`CLASSES` (64x64 PNG: grey level 60 or 180 by class parity plus noise, one ``numpy`` generator
seeded ``seed``; JSON with the label, modality, caption and split); ``write_suite(root)`` writes
``root/suite.yaml``, one mixed dataset ``demo`` over ``root/shards/test``.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = [("xray", "normal"), ("xray", "pneumonia"), ("mri", "normal"), ("mri", "brain tumor")]


def write_split(folder: Path, n_per_class: int, seed: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    with tarfile.open(folder / f"{folder.name}-000000.tar", "w") as tf:
        for i in range(n_per_class * len(CLASSES)):
            mod, label = CLASSES[i % len(CLASSES)]
            img = np.clip(rng.normal(60 + 120 * (i % 2), 40, (64, 64, 3)), 0, 255).astype(np.uint8)
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format="PNG")
            meta = {"labels": [label], "modality": mod, "captions": [label], "split": folder.name}
            for ext, data in (("png", buf.getvalue()), ("json", json.dumps(meta).encode())):
                member = tarfile.TarInfo(f"tiny-{i:09d}.{ext}")
                member.size = len(data)
                tf.addfile(member, io.BytesIO(data))


def write_suite(root: Path) -> Path:
    """``root/suite.yaml``: dataset ``demo`` (mixed, shards at ``root/shards/test``), one class per CLASSES entry."""
    classes = "\n".join(f"      - {{name: {lab} {mod}, modality: {mod}, match: [{lab}]}}" for mod, lab in CLASSES)
    suite = root / "suite.yaml"
    suite.write_text(
        f"name: tiny\ndata_root: {root / 'shards'}\ntemplate_sets:\n  t: ['a photo of {{}}.', '{{}}']\n"
        f"datasets:\n  - name: demo\n    modality: mixed\n    layout: shards\n    path: test\n"
        f"    template_set: t\n    classes:\n{classes}\n"
    )
    return suite
