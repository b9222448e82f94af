"""Loading foreign checkpoints into medclip/open_clip models with an explicit key report.

The UniMed-CLIP release was trained with a fork of open_clip; its checkpoints carry DDP ``module.``
prefixes and, from transformers < 4.31, ``text.transformer.embeddings.position_ids``. ``torch.compile``
adds ``_orig_mod.``. :func:`convert_state_dict` maps all of these onto stock open_clip keys, and
:func:`load_weights` loads and reports loaded / missing / unexpected keys instead of failing silently
(the MetaCLIP-init problem of the reference, spec R16).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch

log = logging.getLogger(__name__)

_PREFIXES = ("module.", "_orig_mod.")
_DROP_SUFFIXES = ("embeddings.position_ids",)


@dataclass
class LoadReport:
    """What happened to each key of a loaded checkpoint."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: counts plus the first few missing / unexpected keys."""
        parts = [
            f"loaded {len(self.loaded)}",
            f"missing {len(self.missing)}",
            f"unexpected {len(self.unexpected)}",
        ]
        if self.dropped:
            parts.append(f"dropped {len(self.dropped)} (position_ids)")
        line = ", ".join(parts)
        if self.missing:
            line += f"; missing e.g. {self.missing[:3]}"
        if self.unexpected:
            line += f"; unexpected e.g. {self.unexpected[:3]}"
        return line


def convert_state_dict(state_dict: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Strip ``module.`` / ``_orig_mod.`` prefixes and drop stale ``position_ids`` buffers.

    Returns:
        ``(converted, dropped_keys)``.
    """
    out, dropped = {}, []
    for key, value in state_dict.items():
        new = key
        changed = True
        while changed:
            changed = False
            for prefix in _PREFIXES:
                if new.startswith(prefix):
                    new = new[len(prefix) :]
                    changed = True
            new = new.replace("._orig_mod.", ".")
        if new.endswith(_DROP_SUFFIXES):
            dropped.append(key)
            continue
        out[new] = value
    return out, dropped


def read_state_dict(path: str) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors``, a plain ``torch.save`` dict or a trainer checkpoint."""
    if str(path).endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(path)
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, dict) and "state_dict" in obj:
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(obj).__name__}")
    return obj


def load_weights(model: torch.nn.Module, source: str | dict[str, torch.Tensor], *, strict: bool = True) -> LoadReport:
    """Load a checkpoint (path or state dict) into ``model`` after key conversion, and report keys.

    Args:
        model: the target model (e.g. built by ``create_model("unimed-clip-vit-b16")``).
        source: checkpoint path or state dict.
        strict: raise ``ValueError`` (with the report) when any key is missing or unexpected.
    """
    state = read_state_dict(source) if isinstance(source, str) else source
    state, dropped = convert_state_dict(state)
    own = model.state_dict()
    report = LoadReport(dropped=dropped)
    for key in state:
        (report.loaded if key in own else report.unexpected).append(key)
    report.missing = [k for k in own if k not in state]
    shape_errors = [k for k in report.loaded if tuple(state[k].shape) != tuple(own[k].shape)]
    if shape_errors:
        raise ValueError(
            f"shape mismatch for {len(shape_errors)} keys, e.g. {shape_errors[0]}: "
            f"{tuple(state[shape_errors[0]].shape)} vs {tuple(own[shape_errors[0]].shape)}"
        )
    if strict and (report.missing or report.unexpected):
        raise ValueError(f"checkpoint does not match the model: {report.summary()}")
    model.load_state_dict({k: state[k] for k in report.loaded}, strict=False)
    log.info("load_weights: %s", report.summary())
    return report
