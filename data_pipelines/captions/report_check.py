"""The rule-based hallucination checker of report captions.

Every finding concept (``data/report_findings.txt`` plus the finding names of ``data/knowledge.yaml``) a
caption mentions must appear in the report with the same polarity:

* asserted in the caption -> asserted in the report (``unsupported`` when never mentioned, ``contradicted``
  when the report only negates it, ``unhedged`` when the report only hedges it);
* hedged in the caption -> asserted or hedged in the report;
* negated in the caption -> negated in the report (``unsupported`` / ``contradicted`` otherwise).

Every number of a caption (a size, a level) must be in the report, and each side it names (left, right,
bilateral) must be said of the same finding in the report. Words outside the concept list are checked by
support: a caption whose content words are mostly absent from
the report (more than ``max_novel`` of them) is rejected as ``novel_content``. A caption holding an
identifier or a placeholder is rejected as ``phi``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..deid import scrub
from .report_rules import HEDGE_CUES, split_sentences
from .text import mentions, normalize, term_pattern, tokens
from .vocab import load_vocabulary

POS, NEG, HEDGED = "pos", "neg", "hedged"
# words any caption may use without the report saying them
GENERIC = frozenset(
    """
    a an the of in on at to and or with without no not is are was were be been there this that these those it its
    image images imaging radiograph radiography film x ray xray chest view views frontal lateral study scan exam
    examination shows show showing demonstrates demonstrate demonstrating depicts depicting reveals revealing seen
    noted identified visible present evidence findings finding appearance appears consistent compatible suggest
    suggests suggesting suggestive possible possibly probable probably likely may might could represent
    representing cannot excluded exclude also both any new small large mild moderate severe minimal trace left
    right bilateral unilateral side sided which as by from for seen ct mri mr ultrasound base basal basilar apex
    apical upper lower middle mid lobe lobes zone zones lung lungs region area posterior anterior medial
    """.split()
)
_PLACEHOLDER = re.compile(r"\[[A-Z]+\]")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_SIDES = ("left", "right", "bilateral")


@functools.lru_cache(maxsize=1)
def concepts() -> dict[str, tuple[str, ...]]:
    """Concept -> surface forms (the report-findings list merged with the caption vocabulary's findings)."""
    out: dict[str, list[str]] = {}
    for line in (Path(__file__).parent / "data" / "report_findings.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if ":" in line:
            name, forms = line.split(":", 1)
            out.setdefault(name.strip(), []).extend(f.strip() for f in forms.split(",") if f.strip())
    vocab = load_vocabulary()
    for name, spec in vocab.raw["findings"].items():
        forms = out.setdefault(name, [name])
        forms += [*spec.get("synonyms", []), *spec.get("aliases", [])]
    return {k: tuple(dict.fromkeys(v)) for k, v in out.items()}


@functools.lru_cache(maxsize=1)
def _prefilter() -> list[tuple[str, tuple[str, ...], re.Pattern]]:
    """One compiled alternation per concept, to skip the (slower) negation scan for absent concepts."""
    return [
        (name, forms, re.compile("|".join(term_pattern(f).pattern for f in forms)))
        for name, forms in concepts().items()
    ]


def polarities(text: str) -> dict[str, set[str]]:
    """Concept -> the polarities (``pos`` / ``neg`` / ``hedged``) with which ``text`` mentions it."""
    out: dict[str, set[str]] = {}
    for sent in split_sentences(text) or [text]:
        hedged = bool(HEDGE_CUES.search(sent))
        norm = normalize(sent)
        for name, forms, rx in _prefilter():
            if not rx.search(norm):
                continue
            hits = mentions(sent, forms)
            for _, neg in hits:
                pol = HEDGED if hedged else (NEG if neg else POS)
                out.setdefault(name, set()).add(pol)
    return out


def asserts_finding(sentence: str) -> bool:
    """Whether a sentence asserts (or hedges) at least one finding concept."""
    return any(p & {POS, HEDGED} for p in polarities(sentence).values())


@dataclass
class ReportFacts:
    """What one scrubbed report says: concept polarities and its word set."""

    report: str
    polarity: dict[str, set[str]] = field(init=False)
    words: frozenset[str] = field(init=False)
    numbers: frozenset[str] = field(init=False)
    sides: dict[str, set[str]] = field(init=False)  # concept -> sides the report names in its sentences

    def __post_init__(self):
        self.polarity = polarities(self.report)
        self.words = frozenset(_stem(t) for t in tokens(self.report))
        self.numbers = frozenset(_NUMBER.findall(self.report))
        self.sides = {}
        for sent in split_sentences(self.report) or [self.report]:
            named = set(tokens(sent)) & set(_SIDES)
            for concept in polarities(sent):
                self.sides.setdefault(concept, set()).update(named)


def _stem(word: str) -> str:
    for suf in ("ies", "es", "s", "ed", "ing"):
        if len(word) > len(suf) + 3 and word.endswith(suf):
            return word[: -len(suf)]
    return word


def check_caption(caption: str, facts: ReportFacts, *, max_novel: float = 0.34) -> str | None:
    """``None`` when ``caption`` is supported by the report, else the failure reason.

    Reasons: ``phi``, ``unsupported``, ``contradicted``, ``unhedged``, ``number`` (a number the report does not
    hold: a made-up size or level), ``side`` (left / right / bilateral the report never says),
    ``novel_content``.
    """
    if _PLACEHOLDER.search(caption) or scrub(caption).n_removed:
        return "phi"
    caption_pols = polarities(caption)
    for name, pols in caption_pols.items():
        have = facts.polarity.get(name, set())
        for pol in pols:
            if pol == POS and POS not in have:
                return "unhedged" if HEDGED in have else ("contradicted" if NEG in have else "unsupported")
            if pol == HEDGED and not have & {POS, HEDGED}:
                return "contradicted" if NEG in have else "unsupported"
            if pol == NEG and NEG not in have:
                return "contradicted" if have else "unsupported"
    if not set(_NUMBER.findall(caption)) <= facts.numbers:
        return "number"
    for sent in split_sentences(caption) or [caption]:
        named = set(tokens(sent)) & set(_SIDES)
        pols = polarities(sent) if named else {}
        if named and any(not named <= facts.sides.get(c, set()) for c in pols):
            return "side"
        if named and not pols and not named <= facts.words:
            return "side"
    content = [t for t in tokens(caption) if t not in GENERIC and not t.isdigit()]
    if content:
        novel = [t for t in content if _stem(t) not in facts.words]
        if len(novel) / len(content) > max_novel:
            return "novel_content"
    return None
