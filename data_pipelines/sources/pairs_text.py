"""Text of image-text pairs: scrub, clean and (for reports) convert to short captions, at enumeration time.

Every text is de-identified with :func:`data_pipelines.deid.scrub` before anything else reads it, and every
caption made from it is scrubbed again before it is stored, so an identifier that a report-to-caption
backend copied or rebuilt never reaches a shard. Text kinds:

* ``caption``: used as is after scrubbing and the caption lint (whitespace, repeated punctuation); stored
  with caption kind ``native``.
* ``report``: scrubbed (once: the :class:`~data_pipelines.deid.ScrubResult` goes to the captioner, which
  then does not scrub again), then a :class:`~data_pipelines.captions.reports.ReportCaptioner` makes
  ``n_report_captions`` short captions (caption kind ``report``); the scrubbed report itself is stored in
  the sample ``.json`` as ``report`` when ``keep_report`` is set. The captioner is built from the build's
  ``captions`` settings (:func:`report_captioner`, one per backend and build); its counters per source
  (LLM calls, cache hits, validation failures by reason, fallbacks) go to the manifest.

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


REPORT_COUNTERS = ("reports", "llm_calls", "cache_hits", "cache_misses", "validation_failures", "fallbacks")


@dataclass
class TextStats:
    """Counters of one source's text processing (reported in the manifest under ``captions.pairs``).

    ``reports`` / ``failure_reasons`` are the report captioner's counters for this source's reports, summed
    from the per-report results (so they are the same for any number of worker processes).
    """

    texts: Counter = field(default_factory=Counter)  # kind -> texts processed
    captions: Counter = field(default_factory=Counter)  # kind -> captions produced
    phi: Counter = field(default_factory=Counter)  # identifier class -> replacements
    report_fallbacks: int = 0
    report_backend: str = ""
    reports: Counter = field(default_factory=Counter)  # REPORT_COUNTERS
    failure_reasons: Counter = field(default_factory=Counter)  # rejected LLM captions per reason

    def add(self, pt: PairText, kind: str) -> None:
        """Count one processed text."""
        self.texts[kind] += 1
        self.captions.update(pt.kinds)
        self.phi.update(dict(pt.phi))
        self.report_fallbacks += pt.fallbacks

    def add_report(self, rc, *, uses_llm: bool) -> None:
        """Count one :class:`~data_pipelines.captions.reports.ReportCaptions` (LLM calls, cache, failures)."""
        self.reports.update(
            reports=1, llm_calls=int(rc.llm_calls), cache_hits=int(bool(rc.cached)),
            cache_misses=int(uses_llm and not rc.cached), validation_failures=int(rc.validation_failures),
            fallbacks=int(rc.fallbacks),
        )  # fmt: skip
        self.failure_reasons.update(rc.failure_reasons or {})

    def as_dict(self) -> dict:
        out = {
            "texts": dict(sorted(self.texts.items())),
            "captions": dict(sorted(self.captions.items())),
            "phi_replaced": dict(sorted(self.phi.items())),
            "report_fallbacks": self.report_fallbacks,
        }
        if self.reports:
            out["report_captions"] = {
                "backend": self.report_backend,
                **{k: int(self.reports.get(k, 0)) for k in REPORT_COUNTERS},
                "failure_reasons": dict(sorted(self.failure_reasons.items())),
            }
        return out


def _scrub_result(text: str, phi: Counter):
    from data_pipelines.deid import scrub

    res = scrub(text)
    for k, v in (res.counts or {}).items():
        phi[str(k)] += int(v)
    return res


def _scrub(text: str, phi: Counter) -> str:
    return _scrub_result(text, phi).text


def _clean(text: str) -> str:
    from data_pipelines.captions.text import lint

    return lint(text)[0] if text.strip() else ""


class EmptyText(ValueError):
    """The text is empty (or a placeholder such as "No caption found") after scrubbing and cleaning."""


def report_captioner(backend: str = "rules", caption_cfg=None, shared: dict | None = None):
    """The :class:`~data_pipelines.captions.reports.ReportCaptioner` of a report backend.

    Args:
        backend: ``rules`` (or ``knowledge``), or an LLM caption backend (``openai``, ``hf``, plug-ins).
        caption_cfg: The build's :class:`~data_pipelines.captions.CaptionConfig` (LLM endpoint, model, cache,
            attempts, concurrency, refresh / offline...); ``None`` = the defaults (enough for ``rules``).
        shared: Captioners already made in this build, by backend: one per backend and build (one cache,
            one client, shared counters), filled here.

    Raises:
        ConfigError: an LLM backend without ``captions.model``, or an unknown backend.
    """
    from dataclasses import replace

    from data_pipelines.captions import CaptionConfig
    from data_pipelines.captions.reports import RULE_BACKENDS, ReportCaptioner

    if shared is not None and backend in shared:
        return shared[backend]
    ccfg = caption_cfg if caption_cfg is not None else CaptionConfig()
    if backend in RULE_BACKENDS:
        ccfg = replace(ccfg, cache="")  # the rule extractor never reads or writes the cache
    cap = ReportCaptioner(ccfg, backend=backend)
    if shared is not None:
        shared[backend] = cap
    return cap


class CaptionSettings:
    """Mixin of the sources with reports: the build hands them its captions settings (:meth:`use_captions`)."""

    _caption_cfg = None
    _shared_captioners: dict | None = None
    _captioner = None

    def use_captions(self, caption_cfg, shared: dict | None = None) -> None:
        """Caption reports with the build's captions settings; ``shared``: the build's captioners by backend."""
        self._caption_cfg, self._shared_captioners, self._captioner = caption_cfg, shared, None

    def report_captioner(self, backend: str):
        """This source's report captioner (made once, on first use)."""
        if self._captioner is None or self._captioner.backend != backend:
            self._captioner = report_captioner(backend, self._caption_cfg, self._shared_captioners)
        return self._captioner


def _prepare(text: str, kind: str, drop_texts: tuple[str, ...]):
    """``(PairText, None)`` of a caption, or ``(ScrubResult, phi)`` of a report still to caption."""
    if kind not in TEXT_KINDS:
        raise ValueError(f"text kind must be one of {', '.join(TEXT_KINDS)}, got {kind!r}")
    raw = (text or "").strip()
    drops = {d.strip().lower() for d in drop_texts}
    if not raw or raw.lower() in drops:
        raise EmptyText("empty text")
    phi: Counter = Counter()
    if kind == "caption":
        # one scrub, between two lint passes: the second lint only touches whitespace and punctuation around
        # the placeholders (scrubbing is idempotent, so a second scrub would change nothing)
        cap = _clean(_scrub(_clean(raw), phi))
        if not cap:
            raise EmptyText("empty caption after cleaning")
        return PairText((cap,), (NATIVE_KIND,), NATIVE_KIND, None, tuple(sorted(phi.items()))), None
    return _scrub_result(raw, phi), phi


def _finish_report(sr, rc, phi: Counter, keep_report: bool, report_backend: str) -> PairText:
    """The :class:`PairText` of a report from its captions ``rc`` (each scrubbed again and cleaned)."""
    caps: list[str] = []
    for c in rc.captions:
        c = _clean(_scrub(c, phi))
        if c and c not in caps:
            caps.append(c)
    if not caps:
        raise EmptyText("report yielded no caption")
    backend = f"report:{getattr(rc, 'backend', report_backend)}"
    report = sr.text if keep_report else None
    fallbacks = int(getattr(rc, "fallbacks", 0) or 0)
    return PairText(tuple(caps), (REPORT_KIND,) * len(caps), backend, report, tuple(sorted(phi.items())), fallbacks)


def process_text(
    text: str,
    kind: str,
    *,
    n_report_captions: int = 3,
    report_backend: str = "rules",
    keep_report: bool = True,
    drop_texts: tuple[str, ...] = (),
    stats: TextStats | None = None,
    captioner=None,
) -> PairText:
    """Scrub and convert one sample's text.

    Args:
        text: the raw caption or report.
        kind: ``caption`` or ``report``.
        n_report_captions: captions made from one report.
        report_backend: backend of the report captioner (when ``captioner`` is not given).
        keep_report: keep the scrubbed report in the result.
        drop_texts: placeholder texts treated as empty (compared case-insensitively after stripping).
        stats: counters to update.
        captioner: a :class:`~data_pipelines.captions.reports.ReportCaptioner` (default: one for
            ``report_backend`` with the default captions settings). It gets the report's
            :class:`~data_pipelines.deid.ScrubResult`, so the report is scrubbed once.

    Returns:
        The :class:`PairText`.

    Raises:
        EmptyText: nothing usable is left.
    """
    st = stats if stats is not None else TextStats()
    pt, phi = _prepare(text, kind, drop_texts)
    if phi is not None:
        cap = captioner if captioner is not None else report_captioner(report_backend)
        rc = cap.captions(pt, n_report_captions)
        st.add_report(rc, uses_llm=cap.uses_llm)
        st.report_backend = st.report_backend or cap.backend
        pt = _finish_report(pt, rc, phi, keep_report, report_backend)
    st.add(pt, kind)
    return pt


_JOB: dict = {}  # settings of the running process_many (inherited by forked workers, not pickled)


def _one(args: tuple):
    """One job: ``(PairText | EmptyText | pending report, ReportCaptions | None)``."""
    text, kind = args
    j = _JOB
    try:
        pt, phi = _prepare(text, kind, j["drop_texts"])
        if phi is None:
            return pt, None
        cap = j["captioner"]
        if cap.uses_llm:  # LLM requests run in the main process (threads, one cache and one client)
            return (pt, phi), None
        rc = cap.captions(pt, j["n_report_captions"])
        try:
            return _finish_report(pt, rc, phi, j["keep_report"], j["report_backend"]), rc
        except EmptyText as e:
            return e, rc
    except EmptyText as e:
        return e, None


def process_many(
    jobs: list[tuple[str, str]],
    *,
    stats: TextStats | None = None,
    workers: int | None = None,
    captioner=None,
    n_report_captions: int = 3,
    report_backend: str = "rules",
    keep_report: bool = True,
    drop_texts: tuple[str, ...] = (),
):
    """:func:`process_text` over ``(text, kind)`` pairs, in worker processes when there are many.

    Scrubbing, cleaning and the rule extractor run in forked worker processes; an LLM ``captioner`` runs in
    this process (``captions.concurrency`` requests at a time, one cache and one client), so its counters and
    cache are shared by every report. Every report is scrubbed exactly once before the captioner sees it.

    Returns:
        One :class:`PairText` or :class:`EmptyText` per job, in order (independent of ``workers``).
    """
    import multiprocessing as mp
    import os
    from concurrent.futures import ProcessPoolExecutor

    if captioner is None and any(k == "report" for _, k in jobs):
        captioner = report_captioner(report_backend)
    n = workers if workers is not None else max(1, min(4, os.cpu_count() or 1))
    args = [(t, k) for t, k in jobs]
    serial = n <= 1 or len(args) < 512 or "fork" not in mp.get_all_start_methods()
    _JOB.clear()
    _JOB.update(
        captioner=captioner, n_report_captions=n_report_captions, report_backend=report_backend,
        keep_report=keep_report, drop_texts=tuple(drop_texts),
    )  # fmt: skip
    try:
        if serial or mp.current_process().daemon:  # a daemonic process (a pool worker) cannot start children
            res = [_one(a) for a in args]
        else:
            # the first job here: the lazily built word lists and patterns are then inherited by the workers
            res = [_one(args[0])]
            with ProcessPoolExecutor(n, mp_context=mp.get_context("fork")) as ex:
                res += ex.map(_one, args[1:], chunksize=64)
    finally:
        _JOB.clear()
    out = [r for r, _ in res]
    rcs = [rc for _, rc in res]
    pending = [i for i, r in enumerate(out) if isinstance(r, tuple)]
    if pending:
        got = captioner.many([out[i][0] for i in pending], n_report_captions)
        for i, rc in zip(pending, got):
            sr, phi = out[i]
            try:
                out[i] = _finish_report(sr, rc, phi, keep_report, report_backend)
            except EmptyText as e:
                out[i] = e
            rcs[i] = rc
    if stats is not None:
        if captioner is not None:
            stats.report_backend = stats.report_backend or captioner.backend
        for (_, kind), r, rc in zip(jobs, out, rcs):
            if rc is not None:
                stats.add_report(rc, uses_llm=captioner.uses_llm)
            if isinstance(r, PairText):
                stats.add(r, kind)
    return out
