"""Text utilities shared by the caption backends and validators: lint, normalisation, near-duplicates,
term mentions and a NegEx-style negation check."""

from __future__ import annotations

import re
from collections.abc import Iterable

_WS = re.compile(r"\s+")
_REPEAT_PUNCT = re.compile(r"([.,;:!?])(?:\s*\1)+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?])")
_MIXED_END = re.compile(r"[.,;:]+([.!?])$")
_LIST_PREFIX = re.compile(r"^\s*(?:[-*\u2022]|\d{1,2}[.)])\s+")
_TOKEN = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*")

NEGATION_CUES = (
    "no",
    "not",
    "without",
    "absence",
    "absent",
    "negative",
    "nor",
    "neither",
    "excluded",
    "exclude",
    "excludes",
    "denies",
    "lack",
    "lacks",
)
_POST_NEGATION = ("absent", "excluded", "not", "ruled", "resolved", "unlikely")
_SCOPE_BREAKS = {"but", "however", "although", "though", "except", "yet", "whereas", "while", "with"}
_NEG_WINDOW = 7


def lint(text: str) -> tuple[str, list[str]]:
    """Clean one caption: strip list markers/quotes, collapse whitespace, fix repeated punctuation.

    Args:
        text: Raw caption.

    Returns:
        ``(clean_text, fixes)`` where ``fixes`` names each correction applied (for the lint report).
    """
    fixes: list[str] = []
    s = text.strip()
    t = _LIST_PREFIX.sub("", s)
    if t != s:
        fixes.append("list_marker")
    s = t.strip().strip("\"'`\u201c\u201d").strip()
    t = _WS.sub(" ", s)
    if t != s:
        fixes.append("whitespace")
    s = t
    t = _SPACE_BEFORE_PUNCT.sub(r"\1", s)
    t = _REPEAT_PUNCT.sub(r"\1", t)
    t = _MIXED_END.sub(r"\1", t)
    if t != s:
        fixes.append("punctuation")
    s = t
    if s and s[0].islower():
        s = s[0].upper() + s[1:]
        fixes.append("capitalised")
    if s and s[-1] not in ".!?":
        s += "."
        fixes.append("final_period")
    return s, fixes


def tokens(text: str) -> list[str]:
    """Lower-case word tokens (letters/digits, inner hyphens and apostrophes kept)."""
    return _TOKEN.findall(text.lower())


def normalize(text: str) -> str:
    """Canonical form for duplicate detection: lower case, punctuation dropped, single spaces."""
    return " ".join(tokens(text.replace("-", " ")))


def jaccard(a: str, b: str) -> float:
    """Jaccard similarity of the normalized word sets of two texts (1.0 for two empty texts)."""
    sa, sb = set(normalize(a).split()), set(normalize(b).split())
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def dedup(captions: Iterable[str], threshold: float = 0.9, keep: Iterable[str] = ()) -> tuple[list[str], int]:
    """Drop exact and near duplicates (normalized-text Jaccard >= ``threshold``), first occurrence wins.

    Args:
        captions: Candidate captions in priority order.
        threshold: Near-duplicate Jaccard threshold.
        keep: Already accepted captions the candidates are also compared against.

    Returns:
        ``(unique_captions, n_dropped)``.
    """
    kept_sets = [set(normalize(c).split()) for c in keep]
    kept_norm = {normalize(c) for c in keep}
    out: list[str] = []
    dropped = 0
    for c in captions:
        n = normalize(c)
        s = set(n.split())
        if n in kept_norm or any(_jac(s, k) >= threshold for k in kept_sets):
            dropped += 1
            continue
        out.append(c)
        kept_norm.add(n)
        kept_sets.append(s)
    return out, dropped


def _jac(a: set, b: set) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def term_pattern(term: str) -> re.Pattern:
    """Regex matching ``term`` on normalized text, whole words, with an optional plural on the last word."""
    words = normalize(term).split()
    if not words:
        raise ValueError(f"empty term {term!r}")
    body = r"\s".join(re.escape(w) for w in words)
    return re.compile(rf"(?<![a-z0-9]){body}(?:s|es)?(?![a-z0-9])")


def mentions(text: str, terms: Iterable[str]) -> list[tuple[int, bool]]:
    """Every occurrence of any of ``terms`` in ``text`` as ``(token_index, negated)``.

    Negation is NegEx-style: a cue ("no", "without", "absence", "negative", ...) up to 7 tokens before the
    term in the same clause, or a post-cue ("absent", "excluded", "not", "ruled out") up to 3 tokens after it.
    Clauses end at sentence punctuation and at contrastive words ("but", "however", "with", ...).
    """
    norm = normalize(text)
    toks = norm.split()
    # character offset -> token index
    starts, pos = [], 0
    for t in toks:
        starts.append(pos)
        pos += len(t) + 1
    clause_of = _clause_ids(text, len(toks))
    hits: dict[int, bool] = {}
    for term in terms:
        for m in term_pattern(term).finditer(norm):
            idx = _token_at(starts, m.start())
            n_words = len(m.group(0).split())
            hits[idx] = hits.get(idx, True) and _negated(toks, clause_of, idx, idx + n_words - 1)
    return sorted(hits.items())


def _token_at(starts: list[int], offset: int) -> int:
    lo = 0
    for i, s in enumerate(starts):
        if s <= offset:
            lo = i
        else:
            break
    return lo


def _clause_ids(text: str, n_tokens: int) -> list[int]:
    """Clause number of every normalized token (clauses split at . ; : ! ? and scope-breaking words)."""
    ids: list[int] = []
    clause = 0
    for piece in re.split(r"[.;:!?]+", text.lower()):
        for t in normalize(piece).split():
            if t in _SCOPE_BREAKS:
                clause += 1
            ids.append(clause)
        clause += 1
    ids = ids[:n_tokens]
    while len(ids) < n_tokens:
        ids.append(clause)
    return ids


def _negated(toks: list[str], clause_of: list[int], first: int, last: int) -> bool:
    c = clause_of[first]
    for j in range(max(0, first - _NEG_WINDOW), first):
        if clause_of[j] == c and toks[j] in NEGATION_CUES:
            return True
    for j in range(last + 1, min(len(toks), last + 4)):
        if clause_of[j] == c and toks[j] in _POST_NEGATION:
            return True
    return False


def asserts_any(text: str, terms: Iterable[str]) -> list[str]:
    """The terms that ``text`` mentions at least once without negation."""
    out = []
    for term in terms:
        if any(not neg for _, neg in mentions(text, [term])):
            out.append(term)
    return out
