"""Text of image-text pairs: scrub, clean and (for reports) convert to short captions, at enumeration time.

Every text is de-identified with :func:`data_pipelines.deid.scrub` before anything else reads it, and every
caption made from it is scrubbed again before it is stored, so an identifier that a report-to-caption
backend copied or rebuilt never reaches a shard. Text kinds:

* ``caption``: used as is after scrubbing and the caption lint (whitespace, repeated punctuation); stored
  with caption kind ``native``.
* ``report``: scrubbed, then :func:`data_pipelines.captions.reports.report_to_captions` makes
  ``n_report_captions`` short captions (caption kind ``report``); the scrubbed report itself is stored in
  the sample ``.json`` as ``report`` when ``keep_report`` is set.

The result rides on the item (``Item.ref.text``) to the writer, which joins it with the label captions of
the item's labels, if any.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

TEXT_KINDS = ("caption", "report")
NATIVE_KIND, REPORT_KIND = "native", "report"


@dataclass(frozen=True)
class PairText:
    """Scrubbed captions of one sample (parallel ``captions`` / ``kinds``) and where they came from."""

    captions: tuple[str, ...]
    kinds: tuple[str, ...]
    backend: str  # "native" or "report:<backend>"
    report: str | None = None  # the scrubbed report (text kind report, keep_report)
    phi: tuple[tuple[str, int], ...] = ()  # identifiers replaced, per class (counts only, never values)
    fallbacks: int = 0  # report_to_captions fell back to the rule extractor


@dataclass(frozen=True)
class PairRef:
    """What a pair item carries to the worker: where its image is, and its text."""

    image: object  # a path (str), or a locator the source's load() understands
    text: PairText
    meta: tuple[tuple[str, object], ...] = ()  # extra .json fields (license, text_kind...)


def pair_text_of(item) -> PairText | None:
    """The :class:`PairText` of an item, or None for label-only items."""
    ref = getattr(item, "ref", None)
    return ref.text if isinstance(ref, PairRef) else None


@dataclass
class TextStats:
    """Counters of one source's text processing (reported in the manifest under ``captions.pairs``)."""

    texts: Counter = field(default_factory=Counter)  # kind -> texts processed
    captions: Counter = field(default_factory=Counter)  # kind -> captions produced
    phi: Counter = field(default_factory=Counter)  # identifier class -> replacements
    report_fallbacks: int = 0

    def add(self, pt: PairText, kind: str) -> None:
        """Count one processed text."""
        self.texts[kind] += 1
        self.captions.update(pt.kinds)
        self.phi.update(dict(pt.phi))
        self.report_fallbacks += pt.fallbacks

    def as_dict(self) -> dict:
        return {
            "texts": dict(sorted(self.texts.items())),
            "captions": dict(sorted(self.captions.items())),
            "phi_replaced": dict(sorted(self.phi.items())),
            "report_fallbacks": self.report_fallbacks,
        }


def _scrub(text: str, phi: Counter) -> str:
    from data_pipelines.deid import scrub

    res = scrub(text)
    for k, v in (res.counts or {}).items():
        phi[str(k)] += int(v)
    return res.text


def _clean(text: str) -> str:
    from data_pipelines.captions.text import lint

    return lint(text)[0] if text.strip() else ""


class EmptyText(ValueError):
    """The text is empty (or a placeholder such as "No caption found") after scrubbing and cleaning."""


def process_text(
    text: str,
    kind: str,
    *,
    n_report_captions: int = 3,
    report_backend: str = "rules",
    keep_report: bool = True,
    drop_texts: tuple[str, ...] = (),
    stats: TextStats | None = None,
) -> PairText:
    """Scrub and convert one sample's text.

    Args:
        text: the raw caption or report.
        kind: ``caption`` or ``report``.
        n_report_captions: captions made from one report.
        report_backend: backend of :func:`report_to_captions`.
        keep_report: keep the scrubbed report in the result.
        drop_texts: placeholder texts treated as empty (compared case-insensitively after stripping).
        stats: counters to update.

    Returns:
        The :class:`PairText`.

    Raises:
        EmptyText: nothing usable is left.
    """
    if kind not in TEXT_KINDS:
        raise ValueError(f"text kind must be one of {', '.join(TEXT_KINDS)}, got {kind!r}")
    st = stats if stats is not None else TextStats()
    raw = (text or "").strip()
    drops = {d.strip().lower() for d in drop_texts}
    if not raw or raw.lower() in drops:
        raise EmptyText("empty text")
    phi: Counter = Counter()
    fallbacks = 0
    if kind == "caption":
        # one scrub, between two lint passes: the second lint only touches whitespace and punctuation around
        # the placeholders (scrubbing is idempotent, so a second scrub would change nothing)
        cap = _clean(_scrub(_clean(raw), phi))
        if not cap:
            raise EmptyText("empty caption after cleaning")
        caps, kinds, backend, report = [cap], [NATIVE_KIND], NATIVE_KIND, None
    else:
        from data_pipelines.captions.reports import report_to_captions

        clean = _scrub(raw, phi)
        rc = report_to_captions(clean, n_report_captions, backend=report_backend)
        fallbacks = int(getattr(rc, "fallbacks", 0) or 0)
        caps = []
        for c in rc.captions:
            c = _clean(_scrub(c, phi))
            if c and c not in caps:
                caps.append(c)
        if not caps:
            raise EmptyText("report yielded no caption")
        kinds = [REPORT_KIND] * len(caps)
        backend = f"report:{getattr(rc, 'backend', report_backend)}"
        report = clean if keep_report else None
    pt = PairText(tuple(caps), tuple(kinds), backend, report, tuple(sorted(phi.items())), fallbacks)
    st.add(pt, kind)
    return pt


def _one(args: tuple) -> PairText | EmptyText:
    text, kind, kw = args
    try:
        return process_text(text, kind, **kw)
    except EmptyText as e:
        return e


def process_many(jobs: list[tuple[str, str]], *, stats: TextStats | None = None, workers: int | None = None, **kw):
    """:func:`process_text` over ``(text, kind)`` pairs, in worker processes when there are many.

    Returns:
        One :class:`PairText` or :class:`EmptyText` per job, in order (independent of ``workers``).
    """
    import multiprocessing as mp
    import os
    from concurrent.futures import ProcessPoolExecutor

    n = workers if workers is not None else max(1, min(4, os.cpu_count() or 1))
    args = [(t, k, kw) for t, k in jobs]
    serial = n <= 1 or len(args) < 512 or "fork" not in mp.get_all_start_methods()
    if serial or mp.current_process().daemon:  # a daemonic process (a pool worker) cannot start children
        out = [_one(a) for a in args]
    else:
        with ProcessPoolExecutor(n, mp_context=mp.get_context("fork")) as ex:
            out = list(ex.map(_one, args, chunksize=64))
    if stats is not None:
        for (_, kind), r in zip(jobs, out):
            if isinstance(r, PairText):
                stats.add(r, kind)
    return out
