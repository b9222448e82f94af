"""Markdown sections of the optional report parts: retrieval, linear probe, robustness, few-shot."""

from __future__ import annotations

import numpy as np


def pct(v) -> str:
    """A fraction as a percentage with 2 decimals; missing / NaN as an en dash."""
    return "–" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{100 * v:.2f}"


def pct_ci(v, ci: dict | None, digits: int = 1) -> str:
    """``83.9 [82.2, 85.6]``: a fraction and its CI bounds in percent (just the value without a CI)."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    if not ci or ci.get("low") is None or ci.get("high") is None:
        return f"{100 * v:.{digits}f}"
    return f"{100 * v:.{digits}f} [{100 * ci['low']:.{digits}f}, {100 * ci['high']:.{digits}f}]"


def extras_markdown(report: dict) -> list[str]:
    """Markdown lines for whichever of the optional sections the report holds."""
    lines: list[str] = []
    if report.get("retrieval"):
        lines += [
            "## Image↔text retrieval",
            "",
            "| set | images | texts | I→T R@1 | R@5 | R@10 | T→I R@1 | R@5 | R@10 |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in report["retrieval"]:
            if r.get("status") != "ok":
                lines.append(f"| {r['name']} | {r.get('message', 'missing')} |||||||| ")
                continue
            a, b = r["image_to_text"], r["text_to_image"]
            ca, cb = (r.get("ci") or {}).get("image_to_text", {}), (r.get("ci") or {}).get("text_to_image", {})
            cells = [pct_ci(a[k], ca.get(k)) for k in ("R@1", "R@5", "R@10")]
            cells += [pct_ci(b[k], cb.get(k)) for k in ("R@1", "R@5", "R@10")]
            lines.append(f"| {r['name']} | {r['n_images']} | {r['n_texts']} | " + " | ".join(cells) + " |")
        lines.append("")
    if report.get("linear_probe"):
        lines += [
            "## Linear probe (frozen image features, logistic regression, C chosen on the validation split)",
            "",
            "| dataset | accuracy | zero-shot accuracy | C | train / val / test |",
            "|---|---|---|---|---|",
        ]
        for p in report["linear_probe"]:
            if p.get("status") != "ok":
                lines.append(f"| {p['name']} | skipped: {p.get('message')} |  |  |  |")
                continue
            lines.append(
                f"| {p['name']} | {pct(p['accuracy'])} | {pct(p.get('zero_shot_accuracy'))} | {p['C']:.4g} | "
                f"{p['n_train']} / {p['n_val']} / {p['n_test']} |"
            )
        lines.append("")
    rob = report.get("robustness")
    if rob:
        lines += [
            f"## Robustness (reference model: `{rob['reference']}`)",
            "",
            "mCE = mean over corruptions of Σ_severity error(model) / Σ_severity error(reference) (ImageNet-C); "
            "error reduction = 1 − Σ error(model) / Σ error(reference) over all corruptions and severities.",
            "",
            "| dataset | clean err | ref clean err | mCE | relative mCE | error reduction |",
            "|---|---|---|---|---|---|",
        ]
        for name, d in rob["datasets"].items():
            lines.append(
                f"| {name} | {pct(d['clean_error'])} | {pct(d.get('ref_clean_error'))} | {pct(d.get('mce'))} | "
                f"{pct(d.get('relative_mce'))} | {pct(d.get('error_reduction'))} |"
            )
        lines.append("")
        for name, d in rob["datasets"].items():
            lines += [
                f"### {name}: top-1 error per corruption and severity",
                "",
                "| corruption | s1 | s2 | s3 | s4 | s5 | CE |",
                "|---|---|---|---|---|---|---|",
            ]
            for c, errs in d["errors"].items():
                lines.append(f"| {c} | " + " | ".join(pct(e) for e in errs) + f" | {pct(d.get('ce', {}).get(c))} |")
            lines.append("")
    lines += _calibration_markdown(report.get("calibration"))
    lines += _prompt_markdown(report.get("prompt_sensitivity"))
    lines += _clinical_markdown(report.get("clinical"))
    lines += _medmnist_markdown(report.get("datasets") or [])
    lines += _subgroup_markdown(report.get("subgroups"))
    if report.get("comparison"):
        from .compare import compare_markdown

        c = report["comparison"]
        lines += compare_markdown(c, c.get("a", "A"), c.get("b", "B"))
    fs = report.get("fewshot")
    if fs:
        lines += [
            f"## Few-shot ({fs['source']})",
            "",
            "| method | " + " | ".join(f"K={k}" for k in fs["ks"]) + " |",
            "|---|" + "---|" * len(fs["ks"]),
        ]
        for name, pts in fs["curves"].items():
            cells = [
                f"{100 * pts[str(k)][0]:.2f} ± {100 * pts[str(k)][1]:.2f}" if str(k) in pts else "–" for k in fs["ks"]
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        for name, v in (fs.get("baselines") or {}).items():
            lines.append(f"| {name} (K=0) | " + " | ".join(f"{100 * v:.2f}" for _ in fs["ks"]) + " |")
        lines.append("")
        if fs.get("base_to_novel"):
            lines += [
                "Base-to-novel (mean over datasets; HM both ways):",
                "",
                "| method | base | novel | HM of means | mean of HMs |",
                "|---|---|---|---|---|",
            ]
            for b in fs["base_to_novel"]:
                lines.append(
                    f"| {b['method']} | {b['base']:.2f} | {b['novel']:.2f} | {b['hm_of_means']:.2f} | "
                    f"{b['mean_of_hms']:.2f} |"
                )
            lines.append("")
    return lines


def _calibration_markdown(cal: dict | None) -> list[str]:
    if not cal:
        return []
    lines = [
        "## Calibration (temperature scaling, Guo et al. 2017)",
        "",
        "T fitted on the validation split (NLL), applied to the test split; ECE with 15 equal-width bins. "
        + (
            f"Temperatures saved to `{cal['saved_to']}`."
            if cal.get("saved_to")
            else "Temperatures not saved (the model is not a checkpoint file)."
        ),
        "",
        "| dataset | T | val n | test n | ECE before | ECE after | NLL before | NLL after | Brier before "
        "| Brier after |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in cal["datasets"]:
        if r["status"] != "ok":
            lines.append(f"| {r['name']} | skipped: {r.get('message')} |||||||||")
            continue
        b, a = r["before"], r["after"]
        bc, ac = b.get("ci") or {}, a.get("ci") or {}

        def num(v, ci):
            if not ci or ci.get("low") is None:
                return f"{v:.3f}"
            return f"{v:.3f} [{ci['low']:.3f}, {ci['high']:.3f}]"

        lines.append(
            f"| {r['name']} | {r['temperature']:.3f} | {r['n_val']} | {r['n_test']} | "
            f"{pct_ci(b['ece'], bc.get('ece'))} | {pct_ci(a['ece'], ac.get('ece'))} | "
            f"{num(b['nll'], bc.get('nll'))} | {num(a['nll'], ac.get('nll'))} | "
            f"{num(b['brier'], bc.get('brier'))} | {num(a['brier'], ac.get('brier'))} |"
        )
    return [*lines, ""]


def _prompt_markdown(ps: dict | None) -> list[str]:
    if not ps:
        return []
    lines = ["## Prompt sensitivity (top-1 accuracy, same images)", ""]
    for r in ps["datasets"]:
        if r["status"] != "ok":
            lines += [f"- {r['name']}: skipped ({r.get('message')})", ""]
            continue
        cmp = r["name_only_vs_ensemble"]
        d = cmp["bootstrap"]["diff"]
        lines += [
            f"### {r['name']} (n = {r['n']}): spread over templates {100 * r['spread']:.2f} points",
            "",
            "| classifier | accuracy |",
            "|---|---|",
            *[f"| template `{p['template']}` | {pct_ci(p['accuracy'], p['ci'])} |" for p in r["per_template"]],
            f"| name only, all templates | {pct_ci(r['name_only']['estimate'], r['name_only'])} |",
            f"| synonym ensemble, all templates (the suite's classifier) | "
            f"{pct_ci(r['ensemble']['estimate'], r['ensemble'])} |",
            "",
            f"Best template `{r['best_template']}`, worst `{r['worst_template']}`. Name-only − ensemble: "
            f"{100 * d['estimate']:+.2f} [{100 * d['low']:+.2f}, {100 * d['high']:+.2f}] points, McNemar exact "
            f"p = {cmp['mcnemar']['p']:.3g} (b = {cmp['mcnemar']['b']}, c = {cmp['mcnemar']['c']}).",
            "",
        ]
    return lines


def _clinical_markdown(cl: dict | None) -> list[str]:
    if not cl:
        return []
    lines = []
    for d in cl["datasets"]:
        rule = d["threshold_rule"] + (f" (target {d['target_sensitivity']:.2f})" if d.get("target_sensitivity") else "")
        lines += [
            f"## Clinical multi-label protocol: {d['name']} ({d['scoring']} scoring)",
            "",
            f"Mean AUC over {', '.join(d['label_set'])}: **{pct_ci(d['mean_auc']['estimate'], d['mean_auc'])}** "
            f"(n = {d['n_test']}). Thresholds chosen on val (n = {d['n_val']}) by {rule}; "
            f"sensitivity at specificity {d['fixed_specificity']:.2f} on test.",
            "",
            "| label | positives | AUC | threshold | sensitivity | specificity | F1 | MCC | sens @ spec |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in d["labels"]:
            t = r.get("at_threshold")
            cells = (
                [f"{t['threshold']:.4g}", pct(t["sensitivity"]), pct(t["specificity"]), pct(t["f1"]), f"{t['mcc']:.3f}"]
                if t
                else ["–"] * 5
            )
            lines.append(
                f"| {r['label']} | {r['positives']} | {pct_ci(r['auc']['estimate'], r['auc'])} | "
                + " | ".join(cells)
                + f" | {pct(r.get('sensitivity_at_specificity'))} |"
            )
        lines.append("")
    return lines


def _medmnist_markdown(datasets: list[dict]) -> list[str]:
    rows = [d for d in datasets if d.get("status") == "ok" and d.get("medmnist")]
    if not rows:
        return []
    lines = [
        "## MedMNIST benchmark metrics (ACC / AUC as medmnist.Evaluator computes them)",
        "",
        "| dataset | task | ACC | AUC | n |",
        "|---|---|---|---|---|",
    ]
    for d in rows:
        m, ci = d["medmnist"], d["medmnist"].get("ci") or {}
        lines.append(
            f"| {d['name']} | {m['task']} | {pct_ci(m['acc'], ci.get('acc'))} | {pct_ci(m['auc'], ci.get('auc'))} | "
            f"{d['n_samples']} |"
        )
    return [*lines, ""]


def _subgroup_markdown(sg: dict | None) -> list[str]:
    if not sg:
        return []
    lines = ["## Subgroups", ""]
    for r in sg["reports"]:
        if r["status"] != "ok":
            lines += [f"- {r['dataset']} / {r['attribute']}: {r['message']}", ""]
            continue
        gap = r.get("accuracy_gap")
        head = f"### {r['dataset']} by {r['attribute']} (n = {r['n']})"
        lines += [head, "", "| group | n | accuracy | ECE | TPR | FPR |", "|---|---|---|---|---|---|"]
        for g, v in r["groups"].items():
            lines.append(
                f"| {g} | {v['n']} | {pct_ci(v['accuracy']['estimate'], v['accuracy'])} | {pct(v.get('ece'))} | "
                f"{pct(v.get('tpr'))} | {pct(v.get('fpr'))} |"
            )
        if gap:
            lines.append(
                f"\nLargest accuracy gap {100 * gap['gap']:.2f} points, permutation p = {gap['p']:.3g} "
                f"({gap['resamples']} permutations; groups with n >= {r['min_size']})."
            )
        if "equal_opportunity_difference" in r:
            lines.append(
                f"Equal-opportunity difference {pct(r['equal_opportunity_difference'])}, equalised-odds "
                f"difference {pct(r['equalised_odds_difference'])} (points, at the argmax decision)."
            )
        lines.append("")
    return lines
