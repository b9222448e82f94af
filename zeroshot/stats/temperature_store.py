"""Temperatures saved with a model: ``<model>.calibration.json`` beside the checkpoint (numpy-free, stdlib only).

Layout (one entry per suite and dataset, written by ``medclip-eval --calibrate``)::

    {"format": 1,
     "temperatures": {"demo/demo": {"temperature": 1.83, "logit_scale": 14.2, "fitted_on": "val",
                                    "n": 680, "nll_before": 1.31, "nll_after": 1.02, "created": "..."}}}

A serving path multiplies its usual logits (``logit_scale * cosine``) by ``1 / temperature`` before the
softmax: ``load_temperature(model_path, "demo", "demo")``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FORMAT = 1


def calibration_path(model_path: str | os.PathLike) -> Path:
    """``<model_path>.calibration.json`` (a checkpoint file or an exported model folder)."""
    p = Path(model_path)
    return p / "calibration.json" if p.is_dir() else p.with_name(p.name + ".calibration.json")


def read_calibration(model_path: str | os.PathLike) -> dict:
    """The whole calibration file (``{"format", "temperatures"}``); empty when there is none."""
    path = calibration_path(model_path)
    if not path.is_file():
        return {"format": FORMAT, "temperatures": {}}
    data = json.loads(path.read_text())
    if data.get("format") != FORMAT or not isinstance(data.get("temperatures"), dict):
        raise ValueError(f"{path}: not a medclip calibration file (format {FORMAT})")
    return data


def load_temperature(
    model_path: str | os.PathLike, suite: str, dataset: str, default: float | None = 1.0
) -> float | None:
    """The temperature fitted for ``suite/dataset`` on this model, or ``default`` when none was saved."""
    entry = read_calibration(model_path)["temperatures"].get(f"{suite}/{dataset}")
    return float(entry["temperature"]) if entry else default


def save_temperatures(model_path: str | os.PathLike, entries: dict[str, dict]) -> Path:
    """Merge ``{"suite/dataset": {"temperature": T, ...}}`` into the model's calibration file (atomically)."""
    for k, v in entries.items():
        if "/" not in k or not isinstance(v, dict) or not float(v.get("temperature", 0)) > 0:
            raise ValueError(f"calibration entry {k!r} needs a 'suite/dataset' key and a positive temperature")
    path = calibration_path(model_path)
    data = read_calibration(model_path)
    data["temperatures"].update(entries)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    tmp.replace(path)
    return path
