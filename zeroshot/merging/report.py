"""The merging report: one Markdown table over all methods plus the full JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path


def _f(x, digits=1, pct=False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{100 * x:.{digits}f}" if pct else f"{x:.{digits}f}"


def markdown(report: dict) -> str:
    """Markdown: the headline table (all methods) and top-1 per setting."""
    t = report["table"]
    s = report["settings"]
    novel = ", ".join(report.get("novel_modalities", []))
    corr = sorted({k.split("@")[0] for k in s if "@" in k})
    sev = sorted({int(k.split("@")[1]) for k in s if "@" in k})
    sev_text = ", ".join(map(str, sev)) or "none"  # the severities this run used
    lines = [
        f"# Merging report: expert `{report.get('expert_modality')}` ({report.get('architecture')})",
        "",
        f"- base: `{report.get('base')}`; expert: `{report.get('expert')}`",
        f"- in-domain: {s['in_domain']['n']} images; other modalities: {novel}; "
        f"corruptions: {', '.join(corr) or 'none'} x severities {sev_text}",
        f"- differing tensors: {report.get('differing_tensors')}; text side differs: {report.get('text_differs')}; "
        f"run wall {report.get('wall_s', 0):.0f} s, peak RSS {report.get('peak_rss_mb', 0):.0f} MB",
        "- ER: error reduction vs the zero-shot base (%); mCE: base = 100; cost: ms per 1000 images on this "
        "machine (merging methods include the shared pass A), rebuilds = merged models built",
        "",
        "| method | in-domain top-1 | ER | other-modality top-1 | ER | corrupted top-1 | mCE "
        "| lambda mean [min, max] | ms/1k img | rebuilds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in t.items():
        lam = (
            "-"
            if r.get("lambda_mean") is None
            else f"{r['lambda_mean']:.3f} [{r['lambda_min']:.3f}, {r['lambda_max']:.3f}]"
        )
        note = f" ({'; '.join(r['notes'])})" if r.get("notes") else ""
        lines.append(
            f"| {name}{note} | {_f(r['in_domain_top1'], pct=True)} | {_f(r['in_domain_er'])} | "
            f"{_f(r['novel_top1'], pct=True)} | {_f(r['novel_er'])} | {_f(r.get('corrupt_top1'), pct=True)} | "
            f"{_f(r.get('mce'))} | {lam} | {_f(r['ms_per_1000'], 0)} | {r['rebuilds']} |"
        )
    keys = list(s)
    lines += ["", "Top-1 (%) per setting:", "", "| method | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name in t:
        cells = [_f(s[k]["methods"][name]["top1"], pct=True) if name in s[k]["methods"] else "-" for k in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(report: dict, out: str | Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.md`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    js, md = out / "report.json", out / "report.md"
    js.write_text(json.dumps(report, indent=1, default=float))
    md.write_text(markdown(report))
    return js, md
