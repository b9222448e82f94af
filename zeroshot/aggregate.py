"""Suite-level aggregation, labelled both ways (spec R20): mean over datasets and mean of per-modality means.

Shifted copies (``shift_of``) and missing datasets are excluded from both. A ``mixed`` dataset with a
per-modality breakdown contributes its per-modality scores to the modality table (and its overall score to
the mean over datasets).
"""

from __future__ import annotations

import numpy as np


def main_results(results: list[dict]) -> list[dict]:
    """Evaluated datasets that are not shifted copies."""
    return [r for r in results if r.get("status") == "ok" and not r.get("shift_of")]


def per_modality(results: list[dict]) -> dict[str, dict]:
    """``{modality: {"score": mean, "entries": [(dataset, score), ...]}}`` in a fixed modality order."""
    table: dict[str, list] = {}
    cis: dict[str, list] = {}
    for r in main_results(results):
        if r["modality"] == "mixed" and r.get("breakdown"):
            for mod, b in r["breakdown"].items():
                table.setdefault(mod, []).append((r["name"], b["score"]))
                cis.setdefault(mod, []).append(b.get("score_ci"))
        else:
            table.setdefault(r["modality"], []).append((r["name"], r["score"]))
            cis.setdefault(r["modality"], []).append(r.get("score_ci"))
    order = ["xray", "ct", "mri", "ultrasound", "pathology", "fundus", "other", "mixed"]
    out = {}
    for m in sorted(table, key=lambda m: order.index(m) if m in order else len(order)):
        out[m] = {"score": float(np.nanmean([s for _, s in table[m]])), "entries": table[m]}
        if len(cis[m]) == 1 and cis[m][0]:  # one source: its CI is the modality's CI
            out[m]["ci"] = cis[m][0]
    return out


def aggregate(results: list[dict]) -> dict:
    """The two suite averages, the per-modality table and the shift gaps."""
    main = main_results(results)
    mods = per_modality(results)
    by_name = {r["name"]: r for r in results}
    shift = []
    for r in results:
        base = by_name.get(r.get("shift_of") or "")
        if r.get("status") == "ok" and base is not None and base.get("status") == "ok":
            shift.append(
                {
                    "name": r["name"],
                    "base": base["name"],
                    "score": r["score"],
                    "base_score": base["score"],
                    "delta": r["score"] - base["score"],
                }
            )
    return {
        "mean_over_datasets": float(np.nanmean([r["score"] for r in main])) if main else None,
        "n_datasets": len(main),
        "mean_of_modality_means": float(np.mean([v["score"] for v in mods.values()])) if mods else None,
        "n_modalities": len(mods),
        "per_modality": mods,
        "shift": shift,
        "missing": [{"name": r["name"], "message": r["message"]} for r in results if r.get("status") == "missing"],
    }
