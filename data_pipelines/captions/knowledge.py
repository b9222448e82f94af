"""The offline, deterministic ``knowledge`` caption backend: curated vocabulary x sentence patterns."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

from .registry import CAPTION_BACKENDS
from .text import dedup
from .vocab import Finding, Vocabulary, load_vocabulary

_AN_LETTERS = set("AEFHILMNORSX")  # acronyms read with a leading vowel sound: "an MRI", "an X-ray"


def article(phrase: str) -> str:
    """``phrase`` with its indefinite article: "an MRI of the brain", "a CT scan", "an axial image"."""
    first = phrase.split()[0] if phrase.split() else phrase
    head = first.split("-")[0]
    if head.isupper() and len(head) <= 4:
        vowel = head[0] in _AN_LETTERS
    else:
        vowel = first[:1].lower() in "aeiou"
    return ("an " if vowel else "a ") + phrase


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def triple_seed(seed: int, modality: str, anatomy: str, labels: Sequence[str]) -> int:
    """A stable 64-bit seed for one (modality, anatomy, labels) triple (independent of PYTHONHASHSEED)."""
    key = f"{seed}|{modality}|{anatomy}|{'|'.join(labels)}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big")


@CAPTION_BACKENDS.register("knowledge", llm=False)
class KnowledgeBackend:
    """Captions from the curated vocabulary; deterministic for a given (seed, triple).

    Args:
        vocab: Vocabulary to draw from (default: the packaged ``data/knowledge.yaml``).
        synonym_rate: Share of positive captions that name a finding by a synonym instead of its label.
        near_dup_jaccard: Candidates this similar to an accepted caption are skipped.
        patterns: ``train`` (report sentences) or ``eval`` (the held-out plain-description register).
    """

    name = "knowledge"

    def __init__(
        self,
        vocab: Vocabulary | None = None,
        *,
        synonym_rate: float = 0.3,
        near_dup_jaccard: float = 0.9,
        patterns: str = "train",
    ):
        self.vocab = vocab or load_vocabulary()
        self.synonym_rate = synonym_rate
        self.near_dup_jaccard = near_dup_jaccard
        if patterns not in ("train", "eval"):
            raise ValueError(f"patterns must be 'train' or 'eval', got {patterns!r}")
        if patterns == "eval" and not (self.vocab.eval_patterns and self.vocab.normal_eval_patterns):
            raise ValueError(f"{self.vocab.path}: no eval_patterns / normal.eval_patterns for the held-out bank")
        self.pattern_set = patterns

    def generate(self, modality: str, anatomy: str, labels: Sequence[str], n: int, seed: int = 0) -> list[str]:
        """Up to ``n`` distinct captions for a triple.

        Args:
            modality: Modality name or alias.
            anatomy: Anatomy name (free text; curated ones get better phrasing).
            labels: Resolved labels: ``("normal",)`` or one or more positive findings (composed).
            n: Number of captions wanted.
            seed: Global seed; combined with the triple.

        Returns:
            ``n`` captions (fewer only if the vocabulary is exhausted, which the tests rule out for n <= 16).
        """
        rng = random.Random(triple_seed(seed, self.vocab.modality(modality), anatomy, labels))
        studies = self.vocab.study_phrases(modality, anatomy)
        noun, adj = self.vocab.anatomy(anatomy)
        short = self.vocab.raw["modalities"].get(self.vocab.modality(modality), {}).get("short", "scan")
        if len(labels) == 1 and self.vocab.is_normal(labels[0]):
            normal = self.vocab.normal_patterns if self.pattern_set == "train" else self.vocab.normal_eval_patterns
            patterns = list(normal)
            findings: list[Finding] = []
            descs = self.vocab.normal_descriptors(modality, anatomy)
        else:
            findings = [self.vocab.finding(lab) for lab in labels]
            with_desc = all(f.descriptors for f in findings) and len(findings) <= 2
            pool = self.vocab.patterns if self.pattern_set == "train" else self.vocab.eval_patterns
            patterns = [p for p in pool if with_desc or "escriptor}" not in p]
            descs = []
        rng.shuffle(patterns)
        n_syn = round(n * self.synonym_rate) if any(f.synonyms for f in findings) else 0
        use_syn = [i < n_syn for i in range(n)]
        rng.shuffle(use_syn)

        out: list[str] = []
        max_tries = 40 * n + 40
        for i in range(max_tries):
            if len(out) >= n:
                break
            pat = patterns[i % len(patterns)]
            fill = {"study": rng.choice(studies), "anatomy": noun, "anatomy_adj": adj, "modality_short": short}
            fill["a_study"] = article(fill["study"])
            if findings:
                syn = use_syn[len(out)] if len(out) < n else rng.random() < self.synonym_rate
                names = [rng.choice(f.synonyms) if syn and f.synonyms else f.name for f in findings]
                rng_order = list(range(len(findings)))
                rng.shuffle(rng_order)
                fill["finding_bare"] = _join([names[k] for k in rng_order])
                fill["finding"] = _join([article(names[k]) if findings[k].countable else names[k] for k in rng_order])
                fill["descriptor"] = _join([rng.choice(findings[k].descriptors or ("",)) for k in rng_order])
            else:
                fill["normal_desc"] = rng.choice(descs)
            fill.update({_cap(k): _cap(v) for k, v in list(fill.items())})
            cap = pat.format(**fill)
            cap = _cap(cap)
            new, _ = dedup([cap], self.near_dup_jaccard, keep=out)
            out.extend(new)
        return out
