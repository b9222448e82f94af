"""The offline rule-based report-to-caption extractor (the default report backend and every LLM's fallback).

A report is split into sections (``FINDINGS:``, ``IMPRESSION:``...); the sentences of the findings and
impression sections (the whole text when it has no such headers) become the captions, verbatim:

* negated sentences ("No pneumothorax.") are kept; they are true statements about the image;
* hedged sentences ("may represent atelectasis", "cannot exclude pneumonia") are kept *with* their hedge
  (``hedges="keep"``, the default) or dropped (``hedges="drop"``); a hedge is never turned into a certainty;
* administrative sentences (comparison with priors, communication of results, recommendations) and any
  sentence holding a de-identification placeholder (``[DATE]``...) are dropped.

Captions are ordered impression first, sentences with a positive finding before the others; when a report
has fewer usable sentences than requested, pairs of sentences are added; a short report gives fewer captions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .text import dedup, lint, tokens

HEDGE_POLICIES = ("keep", "drop")
CONTENT_SECTIONS = ("findings", "impression", "conclusion", "opinion", "summary", "interpretation", "report")
_HEADER = re.compile(
    r"(?:^|(?<=[\s.]))(FINDINGS|IMPRESSIONS?|CONCLUSIONS?|OPINION|SUMMARY|INTERPRETATION|REPORT|HISTORY|"
    r"CLINICAL HISTORY|CLINICAL INFORMATION|INDICATIONS?|REASON FOR EXAM|TECHNIQUE|COMPARISON|EXAM(?:INATION)?|"
    r"PROCEDURE|RECOMMENDATIONS?|ADDENDUM|NOTIFICATION|FINAL REPORT|"
    r"Findings|Impressions?|Conclusions?|Opinion|History|Clinical history|Indications?|Technique|Comparison|"
    r"Recommendations?)\s*:"
)
_SENTENCE_END = re.compile(
    r"(?<!\bDr\.)(?<!\bMr\.)(?<!\bMrs\.)(?<!\bMs\.)(?<!\bSt\.)(?<!\bvs\.)(?<!\bProf\.)"  # not after titles
    r"(?<=[.!?])\s+(?=[A-Z0-9\[(])|\n\s*\n|\n\s*(?=\d{1,2}[.)]\s)|\n(?=\s*[-*\u2022])"
)
HEDGE_CUES = re.compile(
    r"\b(?:possible|possibly|probable|probably|likely|may|might|could|cannot\s+(?:be\s+)?exclude[ds]?|"
    r"can\s*not\s+(?:be\s+)?exclude[ds]?|not\s+excluded|cannot\s+be\s+ruled\s+out|questionable|suspicious|"
    r"suggestive|suggests?|suspected|concerning|equivocal|indeterminate|differential|versus|vs\.?|presumably|"
    r"presumed|favou?red?|borderline|consider(?:ed)?|question\s+of|\?)",
    re.I,
)
_ADMIN = re.compile(
    r"\b(?:compared?|comparison|prior|previous|interval|discussed|called|notified|paged|communicated|conveyed|"
    r"recommend(?:ed|ation)?s?|follow[- ]?up|correlat(?:e|ion)|dictated|signed|transcribed|please|report(?:ed)?|"
    r"result(?:s)?\s+(?:were|was)|clinical\s+history|indication|technique|was\s+performed|were\s+obtained|"
    r"attending|resident|radiologist|physician|addendum|reviewed|read\s+by|seen\s+by)\b",
    re.I,
)
_PLACEHOLDER = re.compile(r"\[[A-Z]+\]")
_ORGAN_LABEL = re.compile(r"^[A-Z][A-Z/&,-]+(?:\s+[A-Z/&,-]+)*\s*:\s+(?=\S)")  # an all-caps organ label


@dataclass(frozen=True)
class Sentence:
    """One report sentence: its section, text, and whether it is hedged / holds a positive finding."""

    section: str
    text: str
    hedged: bool
    positive: bool


def sections(report: str) -> dict[str, str]:
    """Section name (lower case, ``""`` for text before the first header) -> section text."""
    out: dict[str, str] = {}
    pos, name = 0, ""
    for m in _HEADER.finditer(report):
        out[name] = (out.get(name, "") + " " + report[pos : m.start()]).strip()
        name = _section_name(m.group(1))
        pos = m.end()
    out[name] = (out.get(name, "") + " " + report[pos:]).strip()
    return {k: v for k, v in out.items() if v}


def _section_name(header: str) -> str:
    h = header.lower()
    if h in ("impressions", "conclusions", "indications", "recommendations"):
        h = h[:-1]
    return {"clinical history": "history", "clinical information": "history", "examination": "exam"}.get(h, h)


def split_sentences(text: str) -> list[str]:
    """Sentences of one section (list markers and line breaks handled)."""
    parts = _SENTENCE_END.split(text.strip())
    return [" ".join(p.split()) for p in parts if p and p.strip(" .-*\u2022")]


def is_hedged(sentence: str) -> bool:
    """Whether the sentence carries a hedge ("possible", "may represent", "cannot exclude"...)."""
    return bool(HEDGE_CUES.search(sentence))


def report_sentences(report: str, *, positive=None) -> list[Sentence]:
    """The content sentences of a report (findings / impression, or the whole text without headers).

    Args:
        report: Report text (already scrubbed).
        positive: ``callable(sentence) -> bool`` telling whether a sentence asserts a finding (used for
            ordering); default: none is.
    """
    secs = sections(report)
    content = [k for k in ("impression", "conclusion", "opinion", "summary", "interpretation", "findings") if k in secs]
    if not content:
        content = [k for k in secs if k in ("", "report", "final report")] or list(secs)
    out = []
    for name in content:
        for s in split_sentences(secs[name]):
            s = re.sub(r"^\s*\d{1,2}[.)]\s+", "", s)
            s = _ORGAN_LABEL.sub(lambda m: m.group(0).capitalize(), s)  # "LIVER: 1 cm cyst." -> "Liver: 1 cm cyst."
            out.append(Sentence(name, s, is_hedged(s), bool(positive and positive(s))))
    return out


def usable(sentence: Sentence, *, hedges: str, min_words: int, max_words: int) -> bool:
    """Whether a sentence can be a caption (no placeholder, no administrative content, hedge policy, length)."""
    if _PLACEHOLDER.search(sentence.text) or _ADMIN.search(sentence.text):
        return False
    if hedges == "drop" and sentence.hedged:
        return False
    return min_words <= len(tokens(sentence.text)) <= max_words


def extract_captions(
    report: str,
    n: int,
    *,
    hedges: str = "keep",
    min_words: int = 2,
    max_words: int = 48,
    positive=None,
    near_dup_jaccard: float = 0.9,
    pairs: bool = True,
) -> list[str]:
    """Up to ``n`` captions taken verbatim from the report's findings and impression.

    Args:
        report: Scrubbed report text.
        n: Captions wanted.
        hedges: ``keep`` (hedged sentences kept with their hedge) or ``drop``.
        min_words, max_words: Length bounds per caption (words).
        positive: Predicate "asserts a finding" used to put positive sentences first.
        near_dup_jaccard: Near-duplicate threshold.
        pairs: Fill up with pairs of sentences when there are fewer than ``n`` sentences.

    Returns:
        The captions (fewer than ``n`` when the report is short; empty when nothing is usable).
    """
    if hedges not in HEDGE_POLICIES:
        raise ValueError(f"hedges must be one of {HEDGE_POLICIES}, got {hedges!r}")
    sents = [
        s
        for s in report_sentences(report, positive=positive)
        if usable(s, hedges=hedges, min_words=min_words, max_words=max_words)
    ]
    rank = {"impression": 0, "conclusion": 0, "opinion": 0, "summary": 0, "interpretation": 0}
    sents.sort(key=lambda s: (not s.positive, rank.get(s.section, 1)))
    singles = [lint(s.text)[0] for s in sents]
    out, _ = dedup(singles, near_dup_jaccard)
    if pairs and len(out) < n:
        joined = [
            f"{a} {b}"
            for i, a in enumerate(singles)
            for b in singles[i + 1 :]
            if len(tokens(a)) + len(tokens(b)) <= max_words
        ]
        more, _ = dedup(joined, near_dup_jaccard, keep=out)
        out += more
    return out[:n]
