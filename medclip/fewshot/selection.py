"""BiomedCoOp outlier selection of LLM prompts (spec §5.5, pitfall P3; golden values G1-G4).

``select_prompts(scores, tau, mode)`` returns a boolean keep mask over the N prompts:

* ``zscore`` (default): keep ``|s − mean| ≤ τ·std`` (unbiased std); std = 0 keeps all;
* ``reference``: the reference's robust z ``(s − median)/MAD`` (lower median) standardized again with its
  mean and unbiased std — identical to ``zscore`` when MAD > 0; MAD = 0 falls back to ``zscore``;
* ``robust``: ``|s − median|/MAD ≤ τ``; MAD = 0 falls back to ``zscore``.

An empty keep set falls back to keeping every prompt.
"""

from __future__ import annotations

import torch

SELECTION_MODES = ("zscore", "reference", "robust")


def _zscore_keep(s: torch.Tensor, tau: float) -> torch.Tensor:
    std = s.std(unbiased=True) if s.numel() > 1 else s.new_zeros(())
    if not torch.isfinite(std) or std <= 0:
        return torch.ones_like(s, dtype=torch.bool)
    return (s - s.mean()).abs() <= tau * std


def robust_z(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(median, MAD, z)`` with torch's lower median; ``z`` is the re-standardized robust z (reference)."""
    s = scores.double()
    med = s.median()
    mad = (s - med).abs().median()
    rz = (s - med) / mad
    z = (rz - rz.mean()) / rz.std(unbiased=True)
    return med, mad, z


def select_prompts(scores: torch.Tensor, tau: float = 1.5, mode: str = "zscore") -> torch.Tensor:
    """Keep mask ``(N,)`` for prompt scores ``(N,)`` (see module docstring)."""
    if mode not in SELECTION_MODES:
        raise ValueError(f"selection_mode must be one of {SELECTION_MODES}, got {mode!r}")
    s = scores.detach().double().flatten()
    if mode == "zscore":
        keep = _zscore_keep(s, tau)
    else:
        med = s.median()
        mad = (s - med).abs().median()
        if not torch.isfinite(mad) or mad <= 0:
            keep = _zscore_keep(s, tau)
        elif mode == "robust":
            keep = (s - med).abs() / mad <= tau
        else:
            _, _, z = robust_z(s)
            keep = z.abs() <= tau if torch.isfinite(z).all() else _zscore_keep(s, tau)
    if not bool(keep.any()):
        keep = torch.ones_like(keep)
    return keep
