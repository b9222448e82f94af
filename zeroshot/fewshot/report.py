"""Few-shot reports: summary tables (mean ± std, CI95 over seeds), base-to-novel HMs, JSON, Markdown, PNG."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..stats.fewshot_compare import compare_to_zeroshot, markdown_vs_zeroshot
from .aggregate import harmonic_mean, hm_of_means, mean_of_hms, seed_stats


def summarize(records: list[dict], ddof: int = 0) -> dict:
    """Aggregate run records: few-shot cells per (dataset, method, K) and base-to-novel per (dataset, method)."""
    cells: dict = defaultdict(list)
    for r in records:
        if r.get("setting") == "fewshot":
            cells[(r["dataset"], r["method"], int(r["k"]))].append(r)
    fewshot = []
    for (ds, m, k), rs in sorted(cells.items()):
        acc = seed_stats([100 * r["accuracy"] for r in rs], ddof)
        cell = {
            "dataset": ds,
            "method": m,
            "k": k,
            "seeds": [r["seed"] for r in rs],
            "accuracy": acc,
            "macro_f1": float(np.mean([r["macro_f1"] for r in rs])),
            "error": float(np.mean([r["error"] for r in rs])),
        }
        if "zeroshot_accuracy_same_test" in rs[0]:  # evaluated on a test subset (test_per_class)
            cell["test_subset"] = {"n_test": rs[0]["n_test"], "zeroshot": 100 * rs[0]["zeroshot_accuracy_same_test"]}
        fewshot.append(cell)
    average = defaultdict(list)  # (method, k) -> seed-mean accuracy per dataset
    for c in fewshot:
        average[(c["method"], c["k"])].append(c["accuracy"]["mean"])
    cross = [
        {"method": m, "k": k, "accuracy": float(np.mean(v)), "n_datasets": len(v)}
        for (m, k), v in sorted(average.items())
    ]
    b2n_cells: dict = defaultdict(list)
    for r in records:
        if r.get("setting") == "base_to_novel":
            b2n_cells[(r["dataset"], r["method"])].append(r)
    b2n, per_method = [], defaultdict(list)
    for (ds, m), rs in sorted(b2n_cells.items()):
        b = seed_stats([100 * r["base"]["accuracy"] for r in rs], ddof)
        n = seed_stats([100 * r["novel"]["accuracy"] for r in rs], ddof)
        b2n.append({"dataset": ds, "method": m, "base": b, "novel": n, "hm": harmonic_mean(b["mean"], n["mean"])})
        per_method[m].append((b["mean"], n["mean"]))
    b2n_avg = [
        {
            "method": m,
            "base": float(np.mean([p[0] for p in v])),
            "novel": float(np.mean([p[1] for p in v])),
            "hm_of_means": hm_of_means(v),
            "mean_of_hms": mean_of_hms(v),
            "n_datasets": len(v),
        }
        for m, v in per_method.items()
    ]
    return {
        "std_ddof": ddof,
        "fewshot": fewshot,
        "fewshot_average": cross,
        "base_to_novel": b2n,
        "base_to_novel_average": b2n_avg,
        "vs_zeroshot": compare_to_zeroshot(records),  # rows only for records carrying per-image `correct`
    }


def markdown(summary: dict, command: str = "") -> str:
    """Markdown tables: accuracy (%) mean ± std per method and K; base-to-novel base / novel / HM."""
    lines = ["# Few-shot results", ""]
    if command:
        lines += ["Command:", "", "```", command, "```", ""]
    fs = summary["fewshot"]
    for ds in sorted({c["dataset"] for c in fs}):
        ks = sorted({c["k"] for c in fs if c["dataset"] == ds and c["k"] > 0}) or [0]
        lines += [
            f"## {ds}: accuracy (%), mean ± std over seeds (ddof {summary['std_ddof']})",
            "",
            "| method | " + " | ".join(f"K={k}" for k in ks) + " |",
            "|---|" + "---|" * len(ks),
        ]
        notes = []
        for m in dict.fromkeys(c["method"] for c in fs if c["dataset"] == ds):
            mine = [c for c in fs if c["dataset"] == ds and c["method"] == m]
            row = {c["k"]: c["accuracy"] for c in mine}
            if 0 in row:
                lines.append(f"| {m} (K=0, same for all K) | " + " | ".join(f"{row[0]['mean']:.2f}" for _ in ks) + " |")
                continue
            cells = [f"{row[k]['mean']:.2f} ± {row[k]['std']:.2f}" if k in row else "—" for k in ks]
            sub = next((c["test_subset"] for c in mine if "test_subset" in c), None)
            mark = ""
            if sub is not None:
                mark = "†" * (len(notes) + 1)
                notes.append(
                    f"{mark} {m}: evaluated on a test subset of {sub['n_test']} images (test_per_class, a cost cap); "
                    f"zero-shot on the same subset: {sub['zeroshot']:.2f}"
                )
            lines.append(f"| {m}{mark} | " + " | ".join(cells) + " |")
        lines += ["", *notes, ""] if notes else [""]
    if summary["base_to_novel"]:
        lines += [
            "## Base-to-novel: accuracy (%), mean over seeds",
            "",
            "| dataset | method | base | novel | HM |",
            "|---|---|---|---|---|",
        ]
        for c in summary["base_to_novel"]:
            lines.append(
                f"| {c['dataset']} | {c['method']} | {c['base']['mean']:.2f} ± {c['base']['std']:.2f} | "
                f"{c['novel']['mean']:.2f} ± {c['novel']['std']:.2f} | {c['hm']:.2f} |"
            )
        lines += ["", "| method | base (avg) | novel (avg) | hm_of_means | mean_of_hms |", "|---|---|---|---|---|"]
        for c in summary["base_to_novel_average"]:
            lines.append(
                f"| {c['method']} | {c['base']:.2f} | {c['novel']:.2f} | {c['hm_of_means']:.2f} | "
                f"{c['mean_of_hms']:.2f} |"
            )
        lines.append("")
    lines += markdown_vs_zeroshot(summary.get("vs_zeroshot") or [])
    return "\n".join(lines)


def plot_curves(summary: dict, path: Path) -> None:
    """Few-shot curve (cross-dataset mean accuracy over K, one line per method; zero-shot dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    avg = summary["fewshot_average"]
    subset = {c["method"] for c in summary["fewshot"] if "test_subset" in c}
    from ..plots import method_style, shots_axis  # the same colour per method as the suite report's curves

    for m in dict.fromkeys(a["method"] for a in avg):
        pts = sorted((a["k"], a["accuracy"]) for a in avg if a["method"] == m)
        if pts and pts[0][0] == 0:
            ax.axhline(pts[0][1], ls="--", color="gray", label=f"{m} (K=0)")
            continue
        label = m + (" (test subset)" if m in subset else "")
        ax.plot([p[0] for p in pts], [p[1] for p in pts], **method_style(m), label=label)
    shots_axis(ax, [a["k"] for a in avg])
    ax.set_ylabel("accuracy (%)")
    ax.set_title("few-shot accuracy (mean over seeds and datasets)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(out_dir: str | Path, records: list[dict], meta: dict, ddof: int = 0) -> dict:
    """Write ``fewshot.json`` (records, summary, meta), ``fewshot.md`` and ``fewshot_curve.png``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(records, ddof)
    payload = {"meta": meta, "summary": summary, "runs": records}
    tmp = out / "fewshot.json.tmp"
    tmp.write_text(json.dumps(payload, indent=1))
    tmp.replace(out / "fewshot.json")
    (out / "fewshot.md").write_text(markdown(summary, meta.get("command", "")))
    if summary["fewshot_average"]:
        plot_curves(summary, out / "fewshot_curve.png")
    return payload
