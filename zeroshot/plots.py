"""Report figures (matplotlib, Agg backend): per-modality bars, reliability diagrams, corruption-severity
curves and few-shot curves. Each function writes one PNG and returns its path."""

from __future__ import annotations

import textwrap
import zlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

_PALETTE = (  # matplotlib's tab10, then tab10's darker relatives: 20 distinct colours
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#0b3d66", "#a64d00", "#15601a", "#7a1414", "#4f2d73", "#4d2e26", "#a3277e", "#3f3f3f", "#6b6b10", "#0b6b75",
)  # fmt: skip
_MARKERS = "osD^vP*X<>hp"


def method_style(method: str) -> dict:
    """Colour, marker and line style of a few-shot method, the same in every figure.

    Methods of the registry ``medclip.fewshot.METHODS`` keep their position's style; any other name gets a style
    from a hash of the name (stable across runs).
    """
    from medclip.fewshot import METHODS  # the library's method registry (no import of the CLI)

    names = tuple(METHODS)
    i = names.index(method) if method in names else len(names) + zlib.crc32(method.encode()) % 64
    return {"color": _PALETTE[i % len(_PALETTE)], "marker": _MARKERS[i % len(_MARKERS)], "ls": "-"}


def shots_axis(ax, shots) -> None:
    """A log2 x axis labelled with the shot counts themselves (1, 2, 4, 8, 16), not powers of two."""
    ks = sorted({int(k) for k in shots if k > 0})
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks)
    ax.set_xticklabels([str(k) for k in ks])
    ax.minorticks_off()
    ax.set_xlabel("shots per class (K)")


def wrapped_title(ax, fig, title: str, fontsize: float = 10) -> None:
    """A title wrapped to the figure width, so narrow figures (one bar, one dataset) do not clip it."""
    chars = max(16, int(fig.get_figwidth() * 110 / fontsize))  # about 11 characters per inch at 10 pt
    ax.set_title(textwrap.fill(title, width=chars), fontsize=fontsize)


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def modality_bars(per_modality: dict, path: Path, title: str) -> Path:
    """One bar per modality (score in %), the mean of per-modality means as a dashed line."""
    mods = list(per_modality)
    vals = [100 * per_modality[m]["score"] for m in mods]
    fig, ax = plt.subplots(figsize=(1.2 * len(mods) + 2.5, 3.6))
    bars = ax.bar(mods, vals, color="#4C72B0")
    for b, v in zip(bars, vals):
        ax.text(b.get_x() + b.get_width() / 2, v + 1, f"{v:.1f}", ha="center", fontsize=8)
    if vals:
        ax.axhline(np.mean(vals), ls="--", color="gray", lw=1, label=f"mean of modality means {np.mean(vals):.1f}")
        ax.legend(fontsize=8, loc="lower right")
    ax.set_ylim(0, 105)
    ax.set_ylabel("score (%)")
    wrapped_title(ax, fig, title)
    return _save(fig, path)


def reliability_diagrams(items: list[tuple[str, dict]], path: Path) -> Path:
    """Accuracy vs confidence per bin for each (dataset, reliability dict); bar width = bin width."""
    n = max(1, len(items))
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, (name, rel) in zip(axes.flat, items):
        edges = np.asarray(rel["bin_edges"])
        acc = np.array([np.nan if a is None else a for a in rel["bin_accuracy"]], dtype=float)
        mids = (edges[:-1] + edges[1:]) / 2
        ax.bar(mids, np.nan_to_num(acc), width=np.diff(edges), edgecolor="k", lw=0.4, color="#55A868")
        ax.plot([0, 1], [0, 1], "--", color="gray", lw=1)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence")
        ax.set_ylabel("accuracy")
        wrapped_title(ax, fig, f"{name}  ECE={100 * rel['ece']:.1f}%", fontsize=9)
    return _save(fig, path)


def severity_curves(curves: dict[str, list[float]], clean: float, path: Path, title: str) -> Path:
    """Error (%) vs severity 1-5 per corruption, clean error at severity 0."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, errs in curves.items():
        ax.plot(range(0, len(errs) + 1), [100 * clean] + [100 * e for e in errs], marker="o", ms=3, label=name)
    ax.set_xlabel("severity (0 = clean)")
    ax.set_ylabel("top-1 error (%)")
    wrapped_title(ax, fig, title)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def fewshot_curves(
    curves: dict[str, dict[int, tuple[float, float]]], path: Path, title: str, baselines: dict | None = None
) -> Path:
    """Accuracy (%) vs shots K (log2 axis), mean ± std error bars, one line per method; zero-shot
    baselines as dashed horizontal lines."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, v in (baselines or {}).items():
        ax.axhline(100 * v, ls="--", lw=1, color="gray", label=f"{name} (K=0)")
    for name, pts in curves.items():
        ks = sorted(pts)
        style = method_style(name)
        ax.errorbar(
            ks,
            [100 * pts[k][0] for k in ks],
            yerr=[100 * pts[k][1] for k in ks],
            marker=style["marker"],
            color=style["color"],
            ls=style["ls"],
            ms=3,
            capsize=2,
            label=name,
        )
    shots_axis(ax, [k for pts in curves.values() for k in pts])
    ax.set_ylabel("accuracy (%)")
    wrapped_title(ax, fig, title)
    ax.legend(fontsize=7)
    return _save(fig, path)


def roc_curves(curves: list[tuple[str, dict]], path: Path, title: str) -> Path:
    """ROC curves (``(label, {fpr, tpr})``) of one multi-label dataset in one panel, chance diagonal dashed."""
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    for label, roc in curves:
        ax.plot(roc["fpr"], roc["tpr"], lw=1.2, label=label)
    ax.plot([0, 1], [0, 1], "--", color="gray", lw=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    wrapped_title(ax, fig, title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def confusion_matrix(m: list[list[int]], classnames: list[str], path: Path, title: str) -> Path:
    """Row-normalised confusion matrix (rows = true class) with the counts written in the cells."""
    a = np.asarray(m, dtype=float)
    rows = a / np.maximum(a.sum(1, keepdims=True), 1)
    n = len(classnames)
    side = min(12.0, 2.0 + 0.45 * n)
    fig, ax = plt.subplots(figsize=(side, side))
    ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels([c[:28] for c in classnames], rotation=90, fontsize=6)
    ax.set_yticklabels([c[:28] for c in classnames], fontsize=6)
    if n <= 25:
        for i in range(n):
            for j in range(n):
                if a[i, j]:
                    ax.text(
                        j,
                        i,
                        int(a[i, j]),
                        ha="center",
                        va="center",
                        fontsize=5,
                        color="white" if rows[i, j] > 0.5 else "black",
                    )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    return _save(fig, path)
