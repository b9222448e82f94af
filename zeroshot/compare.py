"""Head-to-head comparison of two evaluations (two models, or two prompt sets on one model) on the same images.

Per dataset: the paired bootstrap of the headline-metric difference (CI and p), McNemar's exact test on
top-1 correctness, and DeLong's test for a binary (or per-label) AUC. The dataset's test is McNemar for
accuracy, DeLong for binary AUC and the paired bootstrap otherwise; Holm's correction runs across the
datasets compared and gives the verdict (better / tie / worse for A against B at alpha).
Inputs are the per-dataset scores a run keeps (``EvalOptions.keep_scores``) or writes beside its report
(``scores/<dataset>.npz``); items are matched by key, and labels must agree.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .stats import BootstrapConfig, delong_test, holm, mcnemar_exact, paired_bootstrap, verdict
from .stats import wmetrics as wm


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)


def load_scores(report_dir: str | Path) -> list[dict]:
    """The datasets of a written report with their saved scores (``_scores``); missing ones skipped."""
    root = Path(report_dir)
    path = root / "report.json"
    if not path.is_file():
        raise FileNotFoundError(f"no report.json in {root}")
    rep = json.loads(path.read_text())
    out = []
    for r in rep["datasets"]:
        if r.get("status") != "ok" or not r.get("scores_file"):
            continue
        z = np.load(root / r["scores_file"])
        out.append({**r, "_scores": {"cosine": z["cosine"], "labels": z["labels"], "keys": z["keys"].tolist()}})
    if not out:
        raise ValueError(f"{root}: the report holds no saved scores (rerun medclip-eval, which writes scores/)")
    return out


def _align(ra: dict, rb: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sa, sb = ra["_scores"], rb["_scores"]
    pos_b = {k: i for i, k in enumerate(sb["keys"])}
    ia = [i for i, k in enumerate(sa["keys"]) if k in pos_b]
    if not ia:
        raise ValueError(f"dataset {ra['name']!r}: the two runs share no images")
    ib = [pos_b[sa["keys"][i]] for i in ia]
    ya, yb = np.asarray(sa["labels"])[ia], np.asarray(sb["labels"])[ib]
    if not np.array_equal(ya, yb):
        raise ValueError(f"dataset {ra['name']!r}: labels differ between the two runs for the same images")
    return ya, np.asarray(sa["cosine"])[ia], np.asarray(sb["cosine"])[ib]


def compare_dataset(ra: dict, rb: dict, cfg: BootstrapConfig) -> dict:
    """Tests of A against B on one dataset (see the module docstring); ``p`` is the headline test's."""
    y, ca, cb = _align(ra, rb)
    metric = ra["metric"]
    row = {"dataset": ra["name"], "metric": metric, "n": len(y), "n_a": len(ra["_scores"]["keys"])}
    row["n_b"] = len(rb["_scores"]["keys"])
    if y.ndim == 2:  # multi-label: mean per-label AUC, DeLong per label
        boot = paired_bootstrap(
            lambda w: wm.multilabel_auc(w, y, ca), lambda w: wm.multilabel_auc(w, y, cb), len(y), cfg
        )
        per = []
        for c in range(y.shape[1]):
            if 2 <= y[:, c].sum() <= len(y) - 2:
                per.append(delong_test(y[:, c], ca[:, c], cb[:, c], cfg.level))
            else:
                per.append(None)
        row.update(bootstrap=boot, delong_per_label=per, test="paired bootstrap", p=boot["p"])
        return row
    n_classes = ca.shape[1]
    pa, pb = ca.argmax(1), cb.argmax(1)
    row["mcnemar"] = mcnemar_exact(pa == y, pb == y)
    scale_a, scale_b = float(ra.get("logit_scale", 1.0)), float(rb.get("logit_scale", 1.0))
    prob_a, prob_b = _softmax(scale_a * ca), _softmax(scale_b * cb)

    def stat(c, p, pr):
        if metric == "accuracy":
            return lambda w: wm.mean(w, (p == y).astype(float))
        if metric == "top5":
            return lambda w: wm.mean(w, wm.topk_correct(y, c, 5))
        if metric == "balanced_accuracy":
            return lambda w: wm.balanced_accuracy(w, y, p, n_classes)
        if metric == "macro_f1":
            return lambda w: wm.macro_f1(w, y, p, n_classes)
        return lambda w: wm.auc(w, y, c if n_classes == 2 else pr)

    strata = None if metric in ("accuracy", "top5") else y
    row["bootstrap"] = paired_bootstrap(stat(ca, pa, prob_a), stat(cb, pb, prob_b), len(y), cfg, strata)
    if n_classes == 2 and len(np.unique(y)) == 2 and min(np.bincount(y)) >= 2:
        row["delong"] = delong_test(y == 1, ca[:, 1] - ca[:, 0], cb[:, 1] - cb[:, 0], cfg.level)
    if metric == "accuracy":
        row.update(test="McNemar exact", p=row["mcnemar"]["p"])
    elif metric == "auc" and "delong" in row:
        row.update(test="DeLong", p=row["delong"]["p"])
    else:
        row.update(test="paired bootstrap", p=row["bootstrap"]["p"])
    return row


def compare_runs(
    results_a: list[dict], results_b: list[dict], cfg: BootstrapConfig | None = None, alpha: float = 0.05
) -> dict:
    """Compare every dataset both runs evaluated; Holm across datasets; verdict per dataset."""
    cfg = cfg or BootstrapConfig()
    by_b = {r["name"]: r for r in results_b if r.get("status") == "ok" and "_scores" in r}
    rows = [
        compare_dataset(r, by_b[r["name"]], cfg)
        for r in results_a
        if r.get("status") == "ok" and "_scores" in r and r["name"] in by_b
    ]
    if not rows:
        raise ValueError("the two runs have no evaluated dataset in common")
    for row, p_adj in zip(rows, holm([r["p"] for r in rows])):
        row["p_holm"] = p_adj
        row["verdict"] = verdict(row["bootstrap"]["diff"]["estimate"], p_adj, alpha)
    return {"alpha": alpha, "correction": "holm", "bootstrap": cfg.to_dict(), "datasets": rows}


def compare_markdown(cmp: dict, name_a: str, name_b: str) -> list[str]:
    """Markdown table of :func:`compare_runs` (differences are A - B in points)."""

    def pts(v):
        return "–" if v is None else f"{100 * v:+.2f}"

    lines = [
        f"## Head-to-head: A = `{name_a}` vs B = `{name_b}`",
        "",
        f"Same images (matched by key). Δ = A − B with its {100 * cmp['bootstrap']['level']:.0f}% paired-bootstrap "
        f"CI ({cmp['bootstrap']['resamples']} resamples, seed {cmp['bootstrap']['seed']}); p from the named test, "
        f"Holm-corrected across {len(cmp['datasets'])} datasets; verdict for A at alpha = {cmp['alpha']}.",
        "",
        "| dataset | metric | n | A | B | Δ [CI] | test | p | p (Holm) | verdict | McNemar b / c |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in cmp["datasets"]:
        d = r["bootstrap"]["diff"]
        mc = r.get("mcnemar")
        mc_s = f"{mc['b']} / {mc['c']}" if mc else "–"
        lines.append(
            f"| {r['dataset']} | {r['metric']} | {r['n']} | {100 * r['bootstrap']['a']:.2f} | "
            f"{100 * r['bootstrap']['b']:.2f} | {pts(d['estimate'])} [{pts(d['low'])}, {pts(d['high'])}] | "
            f"{r['test']} | {r['p']:.3g} | {r['p_holm']:.3g} | **{r['verdict']}** | "
            f"{mc_s} |"
        )
    return [*lines, ""]
