"""Free-text de-identification: rule-based scrubbing of PHI with typed placeholders.

Deterministic, offline and dependency-free (regular expressions plus small curated gazetteers in ``data/``).
It covers the HIPAA Safe Harbor identifier classes that occur in report text:

    from data_pipelines.deid import scrub
    r = scrub("Dr. Jane Doe reviewed MRN 12345678 on 03/04/2021.")
    r.text    # "Dr. [NAME] reviewed MRN [ID] on [DATE]."
    r.counts  # {"NAME": 1, "ID": 1, "DATE": 1}
    r.spans   # (Span(start, end, "NAME"), ...) in the input's coordinates

Placeholders: ``[NAME]`` ``[DATE]`` ``[ID]`` (record, accession, account, SSN, licence, device numbers)
``[PHONE]`` (phone, fax, pager) ``[ADDRESS]`` (street, city with state, ZIP, PO box) ``[AGE]`` (ages over 89)
``[INSTITUTION]`` ``[EMAIL]`` ``[URL]`` ``[IP]``. Clinical words (eponyms such as Hodgkin, Crohn, Parkinson;
anatomy; drug names) are kept: see ``data/clinical_allowlist.txt``. What the scrubber cannot promise is in
``docs/captions.md`` ("De-identification").
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .rules import PHI_CLASSES, Span, find_spans


@dataclass(frozen=True)
class ScrubResult:
    """The scrubbed text and what was removed.

    Attributes:
        text: The input with every detected identifier replaced by ``[CLASS]``.
        counts: Identifiers replaced per class (only classes that occurred).
        spans: The replaced character ranges of the *input* text, sorted.
    """

    text: str
    counts: dict[str, int] = field(default_factory=dict)
    spans: tuple[Span, ...] = ()

    @property
    def n_removed(self) -> int:
        """Total identifiers replaced."""
        return sum(self.counts.values())


def scrub(text: str) -> ScrubResult:
    """Replace the identifiers of ``text`` by typed placeholders (``[NAME]``, ``[DATE]``...).

    Idempotent: scrubbing a scrubbed text changes nothing.

    Args:
        text: Free text (a report, a caption, an LLM answer).

    Returns:
        A :class:`ScrubResult`.
    """
    if not text:
        return ScrubResult(text or "")
    spans = find_spans(text)
    out, pos = [], 0
    for s in spans:
        out.append(text[pos : s.start])
        out.append(f"[{s.cls}]")
        pos = s.end
    out.append(text[pos:])
    counts = Counter(s.cls for s in spans)
    return ScrubResult("".join(out), dict(sorted(counts.items())), tuple(spans))


def merge_counts(total: dict[str, int], counts: dict[str, int]) -> dict[str, int]:
    """Add ``counts`` into ``total`` in place (per-class PHI tallies for manifests) and return it."""
    for k, v in counts.items():
        total[k] = total.get(k, 0) + v
    return total


__all__ = ["PHI_CLASSES", "ScrubResult", "Span", "merge_counts", "scrub"]
