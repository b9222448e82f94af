"""Report-to-caption conversion: N short training captions from a free-text radiology report.

The report is de-identified first (:func:`data_pipelines.deid.scrub`); only the scrubbed text is ever cached,
logged, returned or sent to an LLM endpoint. Backends: ``rules`` (offline extractor, the default; the label
converter's ``knowledge`` name means the same here) or any LLM backend of the caption registry (``openai``,
``hf``, plug-ins). LLM answers are parsed, scrubbed and checked against the report
(:mod:`.report_check`); invalid answers are retried up to ``attempts`` times, then the report falls back to
the rule extractor (counted).

    from data_pipelines.captions.reports import ReportCaptioner, report_to_captions
    rc = report_to_captions(report_text, 5)                  # rules backend
    rc.captions, rc.backend, rc.fallbacks, rc.validation_failures, rc.phi
    captioner = ReportCaptioner(cfg)                          # a CaptionConfig: backend, cache, concurrency...
    results = captioner.many(reports, n=5)                    # `concurrency` reports at a time
    manifest["report_captions"] = captioner.stats()
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from string import Template

from medclip.config import ConfigError

from ..deid import ScrubResult, merge_counts, scrub
from .cache import BankCache, cache_key
from .config import CaptionConfig
from .llm import LLMError, caption_backends, make_llm
from .prompt import load_prompt
from .report_check import ReportFacts, asserts_finding, check_caption
from .report_rules import HEDGE_POLICIES, extract_captions
from .text import dedup, lint, tokens
from .validate import CaptionParseError, parse_caption_list

log = logging.getLogger("data_pipelines.captions")
RULE_BACKENDS = ("rules", "knowledge")
REPORT_PROMPT = "report_to_caption_v1"
VERSION = "reports-1"


@dataclass
class ReportCaptions:
    """Captions of one report and how they were made.

    Attributes:
        captions: The captions (scrubbed; fewer than requested when the report is short).
        backend: Backend that produced them (``rules`` or the LLM backend name).
        fallbacks: 1 when an LLM was requested but the rule extractor produced the captions, else 0.
        validation_failures: LLM captions rejected (unparseable answers count once each).
        failure_reasons: reason -> count (``unparseable``, ``phi``, ``unsupported``, ``contradicted``...).
        llm_calls: LLM requests made (0 for cached and rule results).
        cached: Whether the result came from the cache.
        fallback_reason: Why the rule extractor was used instead of the LLM ("" otherwise).
        phi: Identifiers scrubbed from the report, per class.
        report_sha256: sha256 of the *scrubbed* report (the cache key's input).
    """

    captions: list[str]
    backend: str
    fallbacks: int = 0
    validation_failures: int = 0
    failure_reasons: dict[str, int] = field(default_factory=dict)
    llm_calls: int = 0
    cached: bool = False
    fallback_reason: str = ""
    phi: dict[str, int] = field(default_factory=dict)
    report_sha256: str = ""


# report sentences repeat across reports ("No pneumothorax."): the (pure) finding test is memoised
_asserts_finding = functools.lru_cache(maxsize=1 << 16)(asserts_finding)


class ReportCaptioner:
    """Report-to-caption converter with a cache, an LLM backend and counters (thread-safe).

    Args:
        cfg: A :class:`CaptionConfig` (``backend``, ``model``, ``attempts``, ``concurrency``, ``cache``,
            ``refresh``, ``offline``, ``seed``, ``max_words``...). Default: the rules backend.
        backend: Overrides ``cfg.backend``.
        llm: A ready backend object (``name``, ``llm_id``, ``complete(prompt, seed=)``); built from the config
            on first use otherwise.
        hedges: ``keep`` or ``drop`` (rule extractor, see :mod:`.report_rules`).
        min_words: Shortest caption (words); report sentences such as "No pneumothorax." are short.
        max_novel: Share of caption content words the report may lack (:func:`.report_check.check_caption`).
        prompt: Prompt id or ``.txt`` path of the LLM prompt.
    """

    def __init__(
        self,
        cfg: CaptionConfig | None = None,
        *,
        backend: str | None = None,
        llm=None,
        hedges: str = "keep",
        min_words: int = 2,
        max_novel: float = 0.34,
        prompt: str = REPORT_PROMPT,
    ):
        self.cfg = cfg or CaptionConfig()
        self.backend = backend or self.cfg.backend
        if hedges not in HEDGE_POLICIES:
            raise ValueError(f"hedges must be one of {HEDGE_POLICIES}, got {hedges!r}")
        self.hedges, self.min_words, self.max_novel = hedges, min_words, max_novel
        self._llm = llm
        if self.uses_llm and llm is None:
            if self.backend not in caption_backends() or not caption_backends().meta(self.backend).get("llm", True):
                raise ConfigError(f"report caption backend: {caption_backends().unknown_message(self.backend)}")
            if not self.cfg.model:
                raise ConfigError(f"captions.model is required for report caption backend {self.backend!r}")
        self.prompt = load_prompt(prompt)
        self.cache = BankCache(self.cfg.cache)
        self._lock = threading.Lock()
        self._llm_lock = threading.Lock()
        self.counts: Counter = Counter()
        self.reasons: Counter = Counter()
        self.phi: dict[str, int] = {}

    @property
    def uses_llm(self) -> bool:
        return self.backend not in RULE_BACKENDS

    @property
    def llm(self):
        """The LLM backend, built from the config on first use (once, also under concurrency)."""
        with self._llm_lock:
            if self._llm is None:
                self._llm = make_llm(replace(self.cfg, backend=self.backend))
            return self._llm

    def rules(self, scrubbed: str, n: int, *, pairs: bool = True) -> list[str]:
        """The rule extractor's captions of an already scrubbed report."""
        return extract_captions(
            scrubbed, n, hedges=self.hedges, min_words=self.min_words, max_words=self.cfg.max_words,
            positive=_asserts_finding, near_dup_jaccard=self.cfg.near_dup_jaccard, pairs=pairs,
        )  # fmt: skip

    def _key(self, digest: str, n: int) -> str:
        c = self.cfg
        return cache_key(
            {
                "kind": "report", "version": VERSION, "backend": self.backend,
                "model": getattr(self._llm, "llm_id", c.model), "prompt_id": self.prompt.prompt_id,
                "prompt_sha256": self.prompt.sha256, "report_sha256": digest, "n": n, "hedges": self.hedges,
                "params": [c.temperature, c.top_p, c.seed, c.max_tokens, c.attempts, self.min_words, c.max_words,
                           self.max_novel, c.min_captions],
            }
        )  # fmt: skip

    def captions(self, report: str | ScrubResult, n: int) -> ReportCaptions:
        """The captions of one report (scrubbed first, then cached / generated / extracted).

        ``report`` may be the :class:`~data_pipelines.deid.ScrubResult` of a report the caller already
        scrubbed (the pairs source does): it is used as is instead of scrubbing the text a second time. Only
        a ``ScrubResult`` skips the scrub, so raw text can never reach the cache or an endpoint this way.
        """
        s = report if isinstance(report, ScrubResult) else scrub(report or "")
        digest = hashlib.sha256(s.text.encode()).hexdigest()
        self._add(reports=1, phi=s.counts)
        if not self.uses_llm:
            return ReportCaptions(self.rules(s.text, n), "rules", phi=s.counts, report_sha256=digest)
        key = self._key(digest, n)
        hit = None if self.cfg.refresh else self.cache.get(key)
        if hit is not None:
            self._add(cache_hits=1)
            return ReportCaptions(
                list(hit["captions"]), hit["backend"], fallbacks=hit["fallbacks"], cached=True,
                fallback_reason=hit["fallback_reason"], phi=s.counts, report_sha256=digest,
            )  # fmt: skip
        self._add(cache_misses=1)
        if self.cfg.offline:
            out = self._fallback(s.text, n, "offline: not cached", Counter(), 0)
        else:
            out = self._generate(s.text, n)
        out.phi, out.report_sha256 = s.counts, digest
        self.cache.put(
            key,
            {
                "kind": "report", "captions": out.captions, "backend": out.backend, "fallbacks": out.fallbacks,
                "fallback_reason": out.fallback_reason, "version": VERSION, "prompt_id": self.prompt.prompt_id,
                "prompt_sha256": self.prompt.sha256, "llm_id": getattr(self._llm, "llm_id", self.cfg.model),
                "report_sha256": digest,
            },
        )  # fmt: skip
        return out

    def _generate(self, scrubbed: str, n: int) -> ReportCaptions:
        cfg = self.cfg
        facts = ReportFacts(scrubbed)
        text = Template(self.prompt.text).substitute(
            report=scrubbed, n=n, min_words=self.min_words, max_words=cfg.max_words
        )
        # enough: captions.min_captions, else as many as the rule extractor finds sentences (a short report
        # supports few distinct captions), at least one
        need = min(cfg.min_captions or len(self.rules(scrubbed, n, pairs=False)) or 1, n)
        accepted: list[str] = []
        reasons: Counter = Counter()
        calls, last_error = 0, ""
        for attempt in range(cfg.attempts):
            try:
                calls += 1
                answer = self.llm.complete(text, seed=cfg.seed + attempt)
            except LLMError as e:
                reasons["llm_error"] += 1
                last_error = str(e)
                log.warning("report caption LLM request failed: %s", e)
                continue
            try:
                items = parse_caption_list(answer)
            except CaptionParseError:
                reasons["unparseable"] += 1
                continue
            ok = []
            for item in items:
                cap = lint(item)[0]
                reason = check_caption(cap, facts, max_novel=self.max_novel)
                if reason is None and not self.min_words <= len(tokens(cap)) <= cfg.max_words:
                    reason = "length"
                if reason:
                    reasons[reason] += 1
                else:
                    ok.append(cap)
            accepted += dedup(ok, cfg.near_dup_jaccard, keep=accepted)[0]
            if len(accepted) >= need:
                break
        failures = sum(v for k, v in reasons.items() if k != "llm_error")
        self._add(llm_calls=calls, validation_failures=failures, reasons=reasons)
        if len(accepted) >= need:
            return ReportCaptions(accepted[:n], self.llm.name, 0, failures, dict(reasons), calls)
        if set(reasons) == {"llm_error"}:
            why = f"llm_error: {last_error}"
        else:
            detail = ", ".join(f"{k}={v}" for k, v in sorted(reasons.items()))
            why = f"invalid: {len(accepted)}/{need} valid captions after {cfg.attempts} attempts ({detail})"
        return self._fallback(scrubbed, n, why, reasons, calls)

    def _fallback(self, scrubbed: str, n: int, why: str, reasons: Counter, calls: int) -> ReportCaptions:
        self._add(fallbacks=1)
        log.info("report caption fallback to rules: %s", why)
        failures = sum(v for k, v in reasons.items() if k != "llm_error")
        return ReportCaptions(self.rules(scrubbed, n), "rules", 1, failures, dict(reasons), calls, fallback_reason=why)

    def many(self, reports, n: int) -> list[ReportCaptions]:
        """Captions of several reports, ``cfg.concurrency`` at a time for LLM backends (input order kept)."""
        reports = list(reports)
        if not self.uses_llm or self.cfg.concurrency <= 1:
            return [self.captions(r, n) for r in reports]
        with ThreadPoolExecutor(self.cfg.concurrency) as pool:
            return list(pool.map(lambda r: self.captions(r, n), reports))

    def _add(self, *, phi=None, reasons=None, **kw: int) -> None:
        with self._lock:
            self.counts.update(kw)
            if reasons:
                self.reasons.update(reasons)
            if phi:
                merge_counts(self.phi, phi)

    def stats(self) -> dict:
        """Counters for the manifest: reports, LLM calls, cache hits / misses, fallbacks, failures, PHI."""
        with self._lock:
            keys = ("reports", "llm_calls", "cache_hits", "cache_misses", "fallbacks", "validation_failures")
            out = {k: int(self.counts.get(k, 0)) for k in keys}
            out.update(backend=self.backend, hedges=self.hedges, prompt=self.prompt.prompt_id, version=VERSION)
            out["failure_reasons"] = dict(sorted(self.reasons.items()))
            out["phi_scrubbed"] = dict(sorted(self.phi.items()))
            return out


@functools.lru_cache(maxsize=8)
def _rules_captioner(hedges: str, min_words: int) -> ReportCaptioner:
    return ReportCaptioner(backend="rules", hedges=hedges, min_words=min_words)


def report_to_captions(report: str | ScrubResult, n: int, backend: str | None = None, **kwargs) -> ReportCaptions:
    """Captions of one report; ``kwargs`` go to :class:`ReportCaptioner` (``cfg``, ``llm``, ``hedges``...).

    Without ``cfg`` the backend is ``rules``. An LLM backend needs ``cfg`` (model, endpoint, cache). For many
    reports build one :class:`ReportCaptioner` (one cache, one LLM client, shared counters).
    """
    if "cfg" not in kwargs and "llm" not in kwargs and backend in (None, *RULE_BACKENDS):
        if set(kwargs) <= {"hedges", "min_words"}:
            return _rules_captioner(kwargs.get("hedges", "keep"), kwargs.get("min_words", 2)).captions(report, n)
        backend = "rules"
    return ReportCaptioner(backend=backend, **kwargs).captions(report, n)
