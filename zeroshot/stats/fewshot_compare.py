"""Every few-shot method against zero-shot, per dataset and K, on the same test images.

Input: the few-shot runner's records. A record takes part when it carries ``correct`` (0/1 per test
image, in test order) and, when it was evaluated on a subset of the test split, ``test_index`` (the
positions of those images in the full split). The baseline (``method == "zeroshot"``, K = 0) needs
``correct`` on the full split. Per (dataset, method, K) the seeds' predictions are pooled with
:func:`.pooled.compare_pooled` (images resampled, every seed of an image kept together; per-seed accuracies
reported separately); Holm's correction runs over the methods compared at one (dataset, K); the verdict
is better / tie / worse against zero-shot at alpha.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .bootstrap import BootstrapConfig
from .multiple import holm, verdict
from .pooled import compare_pooled


def compare_to_zeroshot(
    records: list[dict], cfg: BootstrapConfig | None = None, alpha: float = 0.05, baseline: str = "zeroshot"
) -> list[dict]:
    """Rows ``{dataset, method, k, seeds, n, method_acc, zeroshot_acc, diff, p, p_holm, verdict}``."""
    cfg = cfg or BootstrapConfig()
    base: dict[str, np.ndarray] = {}
    cells: dict = defaultdict(list)
    for r in records:
        if r.get("setting") != "fewshot" or "correct" not in r:
            continue
        if r["method"] == baseline:
            base[r["dataset"]] = np.asarray(r["correct"], dtype=np.float64)
        else:
            cells[(r["dataset"], r["method"], int(r["k"]))].append(r)
    rows = []
    for (ds, m, k), rs in sorted(cells.items()):
        if ds not in base:
            continue
        idx = [tuple(r.get("test_index") or ()) for r in rs]
        if len(set(idx)) != 1:  # seeds evaluated on different subsets cannot be paired image by image
            continue
        b = base[ds][list(idx[0])] if idx[0] else base[ds]
        correct = np.stack([np.asarray(r["correct"], dtype=np.float64) for r in rs])
        if correct.shape[1] != len(b):
            raise ValueError(f"{ds} / {m} K={k}: {correct.shape[1]} predictions but {len(b)} zero-shot ones")
        res = compare_pooled(correct, b, cfg)
        rows.append(
            {
                "dataset": ds,
                "method": m,
                "k": k,
                "seeds": [r["seed"] for r in rs],
                "n": res["n"],
                "method_acc": res["method"],
                "zeroshot_acc": res["base"],
                "seed_accuracies": res["seeds"],
                "seed_std": res["seed_std"],
                "diff": res["diff"],
                "p": res["p"],
            }
        )
    families: dict = defaultdict(list)
    for i, r in enumerate(rows):
        families[(r["dataset"], r["k"])].append(i)
    for members in families.values():
        for i, p_adj in zip(members, holm([rows[i]["p"] for i in members])):
            rows[i]["p_holm"] = p_adj
            rows[i]["verdict"] = verdict(rows[i]["diff"]["estimate"], p_adj, alpha)
    return rows


def markdown_vs_zeroshot(rows: list[dict], cfg: BootstrapConfig | None = None) -> list[str]:
    """Markdown table of :func:`compare_to_zeroshot` (accuracies and differences in points)."""
    if not rows:
        return []
    cfg = cfg or BootstrapConfig()
    lines = [
        "## Against zero-shot (same test images; seeds pooled, images resampled)",
        "",
        f"Δ = method − zero-shot in points with its {100 * cfg.level:.0f}% paired-bootstrap CI ({cfg.resamples} "
        f"resamples, seed {cfg.seed}); p Holm-corrected over the methods at each (dataset, K); seed spread = "
        "std of the per-seed accuracies.",
        "",
        "| dataset | K | method | seeds | n | method | zero-shot | Δ [CI] | p (Holm) | verdict | seed spread |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        d = r["diff"]
        lines.append(
            f"| {r['dataset']} | {r['k']} | {r['method']} | {len(r['seeds'])} | {r['n']} | "
            f"{100 * r['method_acc']:.2f} | {100 * r['zeroshot_acc']:.2f} | "
            f"{100 * d['estimate']:+.2f} [{100 * d['low']:+.2f}, {100 * d['high']:+.2f}] | "
            f"{r['p_holm']:.3g} | **{r['verdict']}** | {100 * r['seed_std']:.2f} |"
        )
    return [*lines, ""]
