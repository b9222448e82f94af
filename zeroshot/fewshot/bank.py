"""Prompt banks (class -> descriptions) for BiomedCoOp / vmfcoop_ours from the caption converter.

``make_bank(suite_dataset, n)`` asks :class:`data_pipelines.captions.CaptionConverter` (offline
``knowledge`` backend by default; any configured LLM backend otherwise) for ``n`` captions of each class's
(modality, anatomy, label). The anatomy of a class comes from ``anatomy`` (modality -> anatomy) and
defaults to the demo data's anatomy per modality.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..suites import DatasetSpec

DEMO_ANATOMY = {
    "xray": "chest",
    "ct": "abdomen",
    "mri": "brain",
    "ultrasound": "breast",
    "pathology": "colon",
    "fundus": "retina",
}


def make_bank(
    ds: DatasetSpec, n: int = 50, *, anatomy: dict[str, str] | None = None, caption_config=None, converter=None
) -> dict[str, list[str]]:
    """``{class name: [n captions]}`` for the classes of a suite dataset."""
    from data_pipelines.captions import CaptionConfig, CaptionConverter

    anatomy = {**DEMO_ANATOMY, **(anatomy or {})}
    conv = converter or CaptionConverter(caption_config or CaptionConfig(n_captions=n))
    bank = {}
    for c in ds.classes:
        modality = c.modality or ds.modality
        if modality not in anatomy:
            raise ValueError(f"class {c.name!r}: no anatomy known for modality {modality!r}; pass anatomy=")
        caps = list(conv.bank(modality, anatomy[modality], [c.match_values[0]]).captions)
        if len(caps) < n:
            raise ValueError(f"class {c.name!r}: the caption converter returned {len(caps)} < {n} captions")
        bank[c.name] = caps[:n]
    return bank


def save_bank(bank: dict[str, list[str]], path: str | Path, source: str = "") -> None:
    """Write a bank JSON (plain ``{class: [descriptions]}``); ``source`` goes to a sidecar ``.source`` file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(bank, indent=1, ensure_ascii=False) + "\n")
    if source:
        path.with_suffix(".source.txt").write_text(source + "\n")
