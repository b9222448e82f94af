"""``CaptionBank`` (the captions of one triple with provenance) and label-set resolution policies."""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

from .vocab import Vocabulary, clean_label

CAPTION_KIND = "llm_template"  # shard `caption_kinds` value of label-derived captions (spec §5)


class LabelError(ValueError):
    """A record whose labels leave nothing to caption (the shard builder skips it as "labels missing")."""


@dataclass
class CaptionBank:
    """Captions for one (modality, anatomy, label set).

    Attributes:
        modality: Canonical modality.
        anatomy: Anatomy as given (cleaned).
        labels: The resolved label set the captions describe (sorted for ``compose``).
        captions: The captions.
        kinds: Parallel caption kinds (all ``"llm_template"``).
        backend: Backend that actually produced the captions (``knowledge`` after a fallback).
        fallback: Whether an LLM bank fell back to ``knowledge``.
        fallback_reason: Why (empty when no fallback).
        provenance: Generator record (backend, llm id, prompt id and sha256, parameters, date, version).
        bank_id: sha256 of the provenance record.
        cached: Whether the bank came from the cache.
        record_labels: All resolved labels of the record the bank was requested for (input order), also
            under ``multilabel_policy: first``; set by ``CaptionConverter.bank`` / ``banks``, not cached.
    """

    modality: str
    anatomy: str
    labels: tuple[str, ...]
    captions: list[str]
    kinds: list[str]
    backend: str
    fallback: bool = False
    fallback_reason: str = ""
    provenance: dict = field(default_factory=dict)
    bank_id: str = ""
    cached: bool = False
    record_labels: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """JSON-serialisable form (without ``record_labels``, which belongs to a record, not the bank)."""
        d = asdict(self)
        d.pop("record_labels")
        d["labels"] = list(self.labels)
        return d


def make_provenance(
    *,
    requested: str,
    generator: str,
    llm_id: str | None,
    prompt_id: str,
    prompt_sha256: str,
    params: dict,
    triple: tuple[str, str, tuple[str, ...]],
    captions: Sequence[str],
    date: str | None,
    version: str,
) -> dict:
    """The provenance record of a bank (spec §4: mandatory fields plus the triple and a captions hash)."""
    return {
        "backend": requested,
        "generator": generator,
        "llm_id": llm_id,
        "prompt_id": prompt_id,
        "prompt_sha256": prompt_sha256,
        **params,
        "modality": triple[0],
        "anatomy": triple[1],
        "labels": list(triple[2]),
        "captions_sha256": hashlib.sha256("\n".join(captions).encode()).hexdigest(),
        "date": date,
        "medclip_version": version,
    }


def bank_id(provenance: dict) -> str:
    """sha256 of the provenance record without its date (so a rebuild reproduces the id)."""
    rec = {k: v for k, v in provenance.items() if k != "date"}
    return hashlib.sha256(json.dumps(rec, sort_keys=True).encode()).hexdigest()


def today() -> str:
    """UTC date, ISO format (provenance of LLM banks)."""
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()


def split_labels(
    labels: Sequence[str] | Mapping[str, float] | str, uncertain: Sequence[str] = ()
) -> tuple[list[str], list[str]]:
    """``(positive, uncertain)`` label lists from a list, a ``{label: 1 | 0 | -1}`` mapping or one string.

    Raises:
        LabelError: on a mapping value other than 1, 0 or -1 (blank / NaN values count as 0).
    """
    if isinstance(labels, str):
        labels = [labels]
    unc = [clean_label(u) for u in uncertain]
    if isinstance(labels, Mapping):
        pos = []
        for k, v in labels.items():
            if v is None or v != v or v == 0:  # None / NaN / 0: not present
                continue
            if v == 1:
                pos.append(clean_label(k))
            elif v == -1:
                unc.append(clean_label(k))
            else:
                raise LabelError(f"label {k!r} has value {v!r}; expected 1, 0 or -1")
        return pos, unc
    return [clean_label(x) for x in labels if str(x).strip()], unc


def resolve_labels(
    vocab: Vocabulary,
    labels: Sequence[str] | Mapping[str, float] | str,
    *,
    uncertain: Sequence[str] = (),
    uncertain_policy: str = "ignore",
) -> tuple[tuple[str, ...], dict]:
    """Apply the uncertain-label policy and the normal rule; return ``(labels in input order, events)``.

    * ``positive``: uncertain labels are positives. ``negative``: they are absent, and a record left without
      positives is ``normal``. ``ignore``: they are dropped; a record left without labels raises.
    * "normal" together with a positive finding is dropped (normal is never mixed with a finding).

    Raises:
        LabelError: when no label is left.
    """
    pos, unc = split_labels(labels, uncertain)
    events = {"uncertain": len(unc), "normal_dropped": 0}
    if uncertain_policy == "positive":
        pos += unc
    pos = list(dict.fromkeys(pos))
    findings = [x for x in pos if not vocab.is_normal(x)]
    if findings and len(findings) < len(pos):
        events["normal_dropped"] = 1
        pos = findings
    if not pos and unc and uncertain_policy == "negative":
        pos = ["normal"]
    if not pos:
        raise LabelError(f"no label left to caption (labels={list(split_labels(labels)[0])}, uncertain={unc})")
    if len(pos) == 1 and vocab.is_normal(pos[0]):
        pos = ["normal"]
    return tuple(pos), events
