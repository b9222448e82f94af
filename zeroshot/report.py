"""Reports: ``report.json`` (machine-readable), ``report.md`` (tables) and PNG plots in one folder."""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import plots
from .aggregate import aggregate
from .report_extras import extras_markdown, pct_ci
from .report_extras import pct as _pct


def versions() -> dict:
    """Versions of the packages that determine the numbers."""
    import open_clip
    import sklearn
    import torch

    import medclip

    return {
        "medclip": medclip.__version__,
        "torch": torch.__version__,
        "open_clip": open_clip.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "python": platform.python_version(),
    }


def build_report(*, suite: dict, model: dict, results: list[dict], options: dict, extras: dict | None = None) -> dict:
    """The JSON report: resolved suite, model id, versions, per-dataset results, aggregates and extras."""
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "suite": suite,
        "model": model,
        "versions": versions(),
        "options": options,
        "datasets": results,
        "aggregate": aggregate(results),
        **(extras or {}),
    }


def _dataset_table(rows: list[dict]) -> list[str]:
    out = [
        "| dataset | modality | metric | **score** | top-1 | top-5 | bal. acc | macro F1 | AUC | ECE | n "
        "| templates | prompts/class |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        m = r.get("metrics", {})
        ci = r.get("ci") or {}
        ppc = r.get("prompts_per_class", [])
        ppc_s = str(ppc[0]) if ppc and len(set(ppc)) == 1 else (f"{min(ppc)}-{max(ppc)}" if ppc else "–")
        auc_key = "auc" if "auc" in m else "multilabel_auc"
        cells = [pct_ci(m.get(k), ci.get(k)) for k in ("accuracy", "top5", "balanced_accuracy", "macro_f1", auc_key)]
        score_ci = r.get("score_ci")
        score = f"**{_pct(r['score'])}**" + (
            f" [{_pct(score_ci['low'])}, {_pct(score_ci['high'])}]"
            if score_ci and score_ci.get("low") is not None
            else ""
        )
        out.append(
            f"| {r['name']} | {r['modality']} | {r['metric']} | {score} | " + " | ".join(cells) + f" | "
            f"{pct_ci(m.get('ece'), ci.get('ece'))} | {r['n_samples']} | "
            f"{r.get('n_templates') or 'per class'} | {ppc_s} |"
        )
    return out


def _ci_note(report: dict) -> str:
    """One line saying how the intervals were computed (empty when the report has none)."""
    cfg = next((r["bootstrap"] for r in report["datasets"] if r.get("bootstrap")), None)
    if not cfg:
        return ""
    return (
        f"Brackets: {100 * cfg['level']:.0f}% percentile bootstrap CIs over test images ({cfg['resamples']} "
        f"resamples, seed {cfg['seed']}; balanced accuracy, macro F1 and AUC resample within each class)."
    )


def markdown(report: dict, plot_files: dict[str, str]) -> str:
    """Render the report as Markdown."""
    agg, suite, res = report["aggregate"], report["suite"], report["datasets"]
    ok = [r for r in res if r["status"] == "ok"]
    lines = [
        f"# Zero-shot report — suite `{suite['name']}`, model `{report['model']['id']}`",
        "",
        f"{suite.get('description', '')}",
        "",
        f"Created {report['created']} · scores in % · logits = logit_scale × cosine (argmax and AUC equal "
        "the plain-cosine scoring of UniMed-CLIP; softmax probabilities for ECE / one-vs-rest AUC use the "
        "model's scale).",
        "",
        _ci_note(report),
        "",
        f"**Prompts:** {suite.get('training_templates_note') or 'evaluation templates are defined in the suite file.'}",
        "",
        "## Summary",
        "",
        "| aggregation | value |",
        "|---|---|",
        f"| mean over datasets ({agg['n_datasets']} datasets, each dataset's own metric) "
        f"| **{_pct(agg['mean_over_datasets'])}** |",
        f"| mean of per-modality means ({agg['n_modalities']} modalities) "
        f"| **{_pct(agg['mean_of_modality_means'])}** |",
        "",
        "## Per modality",
        "",
        "| modality | score | from |",
        "|---|---|---|",
    ]
    for mod, v in agg["per_modality"].items():
        src = ", ".join(f"{n} {_pct(s)}" for n, s in v["entries"])
        lines.append(f"| {mod} | {pct_ci(v['score'], v.get('ci'), 2)} | {src} |")
    lines += ["", "## Per dataset", "", *_dataset_table(ok), ""]
    if agg["shift"]:
        lines += ["## Distribution shift", "", "| dataset | base | score | base score | Δ |", "|---|---|---|---|---|"]
        for s in agg["shift"]:
            lines.append(
                f"| {s['name']} | {s['base']} | {_pct(s['score'])} | {_pct(s['base_score'])} | {_pct(s['delta'])} |"
            )
        lines.append("")
    if agg["missing"]:
        lines += ["## Missing datasets (not evaluated)", ""]
        lines += [f"- **{m['name']}**: {m['message']}" for m in agg["missing"]] + [""]
    for r in ok:
        if r.get("breakdown"):
            lines += [
                f"### {r['name']}: per modality ({len(r['classnames'])}-way classifier)",
                "",
                "| modality | score | top-1 | bal. acc | macro F1 | n |",
                "|---|---|---|---|---|---|",
            ]
            for mod, b in r["breakdown"].items():
                bc = b.get("ci") or {}
                lines.append(
                    f"| {mod} | {pct_ci(b['score'], b.get('score_ci'))} | "
                    f"{pct_ci(b['accuracy'], bc.get('accuracy'))} | "
                    f"{pct_ci(b['balanced_accuracy'], bc.get('balanced_accuracy'))} | "
                    f"{pct_ci(b['macro_f1'], bc.get('macro_f1'))} | {b['n_samples']} |"
                )
            lines.append("")
        m = r["metrics"]
        lines += [f"### {r['name']}: per class", ""]
        if "per_label_auc" in m:
            lines += ["| class | AUC | positives |", "|---|---|---|"]
            per_ci = (r.get("ci") or {}).get("per_label_auc") or [None] * len(r["classnames"])
            for c, a, n, ci in zip(r["classnames"], m["per_label_auc"], r["per_class_support"], per_ci):
                lines.append(f"| {c} | {pct_ci(a, ci)} | {n} |")
        else:
            lines += ["| class | accuracy (recall) | n |", "|---|---|---|"]
            for c, a, n in zip(r["classnames"], m["per_class_accuracy"], m["per_class_support"]):
                lines.append(f"| {c} | {_pct(a)} | {n} |")
        ov = r.get("prompt_overlap")
        if ov:
            extra = ""
            if "max_jaccard" in ov:
                extra = (
                    f"; near duplicates (word Jaccard ≥ 0.9): {ov.get('near_duplicates')}, max Jaccard "
                    f"{ov['max_jaccard']:.2f}, share of prompt 4-grams seen in captions "
                    f"{ov.get('ngram_overlap', 0):.2f}"
                )
            lines.append(
                f"\nPrompt overlap with this dataset's captions (spec R7): {ov['exact']} of {ov['n_prompts']} "
                f"eval prompts appear verbatim among {ov['n_captions']} captions{extra}."
            )
        lines.append("")
    lines += extras_markdown(report)
    if plot_files:
        lines += ["## Plots", ""] + [f"![{k}]({v})" for k, v in plot_files.items()] + [""]
    lines += ["## Environment", "", "```", json.dumps(report["versions"]), json.dumps(report["options"]), "```", ""]
    return "\n".join(lines)


def write_report(report: dict, out_dir: str | Path) -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and the plots into ``out_dir``; return the written paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = {**report, "datasets": [_save_scores(r, out) for r in report["datasets"]]}
    pf: dict[str, str] = {}
    agg = report["aggregate"]
    if agg["per_modality"]:
        plots.modality_bars(
            agg["per_modality"], out / "per_modality.png", f"{report['suite']['name']} — {report['model']['id']}"
        )
        pf["per-modality scores"] = "per_modality.png"
    for r in report["datasets"]:
        if r["status"] == "ok" and "confusion" in r.get("metrics", {}):
            fn = f"confusion_{r['name']}.png"
            plots.confusion_matrix(r["metrics"]["confusion"], r["classnames"], out / fn, f"{r['name']}: confusion")
            pf[f"confusion matrix ({r['name']})"] = fn
    rel = [(r["name"], r["reliability"]) for r in report["datasets"] if r["status"] == "ok" and "reliability" in r]
    if rel:
        plots.reliability_diagrams(rel, out / "reliability.png")
        pf["reliability diagrams"] = "reliability.png"
    cal = [r for r in (report.get("calibration") or {}).get("datasets", []) if r.get("status") == "ok"]
    if cal:
        pairs = []
        for r in cal:
            pairs += [
                (f"{r['name']} before", r["reliability_before"]),
                (f"{r['name']} T={r['temperature']:.2f}", r["reliability_after"]),
            ]
        plots.reliability_diagrams(pairs, out / "reliability_calibrated.png")
        pf["reliability before / after temperature scaling"] = "reliability_calibrated.png"
    for d in (report.get("clinical") or {}).get("datasets", []):
        curves = [(r["label"], r["roc"]) for r in d["labels"] if r.get("roc")]
        if curves:
            fn = f"roc_{d['name']}.png"
            plots.roc_curves(curves, out / fn, f"{d['name']}: ROC per label ({d['scoring']})")
            pf[f"ROC curves ({d['name']})"] = fn
    rob = report.get("robustness")
    if rob:
        for name, d in rob["datasets"].items():
            fn = f"corruption_severity_{name}.png"
            plots.severity_curves(d["errors"], d["clean_error"], out / fn, f"{name}: error vs severity")
            pf[f"corruption severity ({name})"] = fn
    fs = report.get("fewshot")
    if fs:
        curves = {m: {int(k): tuple(v) for k, v in pts.items()} for m, pts in fs["curves"].items()}
        plots.fewshot_curves(curves, out / "fewshot_curves.png", "few-shot accuracy vs K", fs.get("baselines"))
        pf["few-shot curves"] = "fewshot_curves.png"
    json_path = out / "report.json"
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(_finite(report), indent=1, default=_json_default, allow_nan=False))
    tmp.replace(json_path)
    md_path = out / "report.md"
    md_path.write_text(markdown(report, pf))
    return {"json": json_path, "markdown": md_path, **{k: out / v for k, v in pf.items()}}


def _save_scores(r: dict, out: Path) -> dict:
    """Move a result's ``_scores`` (cosine, labels, keys) into ``scores/<dataset>.npz``; return the rest."""
    sc = r.get("_scores")
    if sc is None:
        return r
    (out / "scores").mkdir(exist_ok=True)
    path = out / "scores" / f"{r['name']}.npz"
    np.savez_compressed(path, cosine=sc["cosine"], labels=sc["labels"], keys=np.asarray(sc["keys"], dtype=str))
    rest = {k: v for k, v in r.items() if k != "_scores"}
    rest["scores_file"] = f"scores/{r['name']}.npz"
    return rest


def _finite(o):
    """NaN / inf (e.g. AUC of a dataset with one class) become null: report.json stays strict JSON."""
    if isinstance(o, float):
        return o if np.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    if isinstance(o, np.floating):
        return _finite(float(o))
    return o


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")
