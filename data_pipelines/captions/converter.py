"""``CaptionConverter``: caption banks for (modality, anatomy, labels) triples, any backend, with cache,
validation, knowledge fallback and statistics for the manifest."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from importlib import metadata

from medclip.config import ConfigError

from .bank import CAPTION_KIND, CaptionBank, LabelError, bank_id, make_provenance, resolve_labels
from .cache import BankCache
from .config import CaptionConfig
from .generate import LLMGenerator
from .knowledge import KnowledgeBackend
from .validate import CaptionValidator
from .vocab import Vocabulary, clean_label, load_vocabulary

log = logging.getLogger("data_pipelines.captions")

Labels = Sequence[str] | Mapping[str, float] | str


def _version() -> str:
    try:
        return metadata.version("medclip")
    except metadata.PackageNotFoundError:  # pragma: no cover
        return "unknown"


class CaptionConverter:
    """Turns label triples into caption banks.

    Args:
        config: Converter settings (default: ``knowledge`` backend, 10 captions).
        llm: An LLM backend object (``complete(prompt, *, seed) -> str``, ``name``, ``llm_id``) replacing the
            one built from ``config`` (tests, stubs).
        count_tokens: Token counter for the context-length check (default: words).
        vocab: Vocabulary (default: ``config.knowledge_path`` or the packaged one).

    Example::

        conv = CaptionConverter(load_config(CaptionConfig, overrides=["backend=knowledge"]))
        bank = conv.bank("xray", "chest", ["pleural effusion", "cardiomegaly"])
        bank.captions, bank.kinds, bank.bank_id
    """

    def __init__(
        self,
        config: CaptionConfig | None = None,
        *,
        llm=None,
        count_tokens: Callable[[str], int] | None = None,
        vocab: Vocabulary | None = None,
    ):
        self.cfg = config or CaptionConfig()
        self.cfg.validate()
        self.vocab = vocab or load_vocabulary(self.cfg.knowledge_path or None)
        self.version = _version()
        try:
            self.knowledge = KnowledgeBackend(
                self.vocab,
                synonym_rate=self.cfg.synonym_rate,
                near_dup_jaccard=self.cfg.near_dup_jaccard,
                patterns=self.cfg.patterns,
            )
        except ValueError as e:
            raise ConfigError(str(e)) from None
        self.knowledge_sha256 = hashlib.sha256(self.vocab.path.read_bytes()).hexdigest()
        self.validator = CaptionValidator(
            self.vocab,
            min_words=self.cfg.min_words,
            max_words=self.cfg.max_words,
            max_tokens=self.cfg.max_caption_tokens,
            count_tokens=count_tokens,
            near_dup_jaccard=self.cfg.near_dup_jaccard,
            typo_policy=self.cfg.typo_policy,
        )
        self._lock = threading.Lock()
        self._key_locks: dict[tuple, threading.Lock] = {}
        self._memo: dict[tuple, CaptionBank] = {}
        self._stats = Counter()
        self._rejected = Counter()
        self._fixes = Counter()
        self._unknown = Counter()
        self._fallback_reasons = Counter()
        self.generator: LLMGenerator | None = None
        if self.cfg.backend != "knowledge" or llm is not None:
            self.generator = LLMGenerator(self, llm=llm, cache=BankCache(self.cfg.cache or None))

    # -- public API -------------------------------------------------------------------------------------
    def resolve(self, labels: Labels, *, uncertain: Sequence[str] = ()) -> list[tuple[str, ...]]:
        """The label sets that get banks for one record, after the uncertain, normal and multi-label policies.

        ``compose``: one sorted label set; ``per_label``: one set per label; ``first``: the first label only.

        Raises:
            LabelError: when no label is left.
        """
        return self._resolve(labels, uncertain)[1]

    def _resolve(self, labels: Labels, uncertain: Sequence[str] = ()) -> tuple[tuple[str, ...], list[tuple]]:
        """``(resolved labels in input order, label sets that get banks)``; counts the record in the stats."""
        labs, events = resolve_labels(
            self.vocab, labels, uncertain=uncertain, uncertain_policy=self.cfg.uncertain_policy
        )
        labs = tuple(labs)
        with self._lock:
            self._stats["records"] += 1
            self._stats["uncertain_labels"] += events["uncertain"]
            self._stats["normal_dropped"] += events["normal_dropped"]
            if len(labs) > 1:
                self._stats["multilabel_records"] += 1
        policy = self.cfg.multilabel_policy
        if policy == "first" or len(labs) == 1:
            return labs, [labs[:1]]
        if policy == "per_label":
            return labs, [(x,) for x in labs]
        return labs, [tuple(sorted(labs))]

    def bank(self, modality: str, anatomy: str, labels: Labels, *, uncertain: Sequence[str] = ()) -> CaptionBank:
        """The caption bank of one record's (modality, anatomy, labels).

        Args:
            modality: Modality name or alias (``us`` -> ``ultrasound``, ...).
            anatomy: Anatomy (free text).
            labels: Label list, one label, or a ``{label: 1 | 0 | -1}`` mapping (-1 = uncertain).
            uncertain: Extra labels marked uncertain.

        Returns:
            A :class:`CaptionBank`; for ``per_label`` the union of the single-label banks.

        Raises:
            LabelError: when the policies leave no label.
        """
        labs, sets = self._resolve(labels, uncertain)
        banks = [self._bank_for(modality, anatomy, s) for s in sets]
        return replace(banks[0] if len(banks) == 1 else self._union(banks), record_labels=labs)

    def banks(self, triples: Iterable[tuple | Mapping], *, errors: str = "raise") -> list[CaptionBank | LabelError]:
        """Banks for many records, generated ``config.concurrency`` triples at a time.

        Args:
            triples: ``(modality, anatomy, labels)`` tuples or mappings with those keys (and ``uncertain``).
            errors: ``raise`` (a :class:`LabelError` aborts) or ``return`` (the error takes the record's place).
        """
        if errors not in ("raise", "return"):
            raise ValueError(f"errors must be 'raise' or 'return', got {errors!r}")
        items = []
        for t in triples:
            if isinstance(t, Mapping):
                items.append((t["modality"], t.get("anatomy", ""), t["labels"], tuple(t.get("uncertain", ()))))
            else:
                items.append((t[0], t[1], t[2], tuple(t[3]) if len(t) > 3 else ()))
        resolved: list = []
        for m, a, lab, u in items:
            try:
                resolved.append((m, a, *self._resolve(lab, u)))
            except LabelError as e:
                if errors == "raise":
                    raise
                resolved.append(e)
        ok = [r for r in resolved if not isinstance(r, LabelError)]
        todo = list(dict.fromkeys(self._key(m, a, s) for m, a, _, sets in ok for s in sets))
        if self.cfg.concurrency > 1 and self.generator is not None and len(todo) > 1:
            with ThreadPoolExecutor(self.cfg.concurrency) as ex:
                list(ex.map(lambda k: self._bank_for(*k), todo))
        out: list = []
        for r in resolved:
            if isinstance(r, LabelError):
                out.append(r)
                continue
            m, a, labs, sets = r
            bs = [self._bank_for(m, a, s) for s in sets]
            out.append(replace(bs[0] if len(bs) == 1 else self._union(bs), record_labels=labs))
        return out

    def stats(self) -> dict:
        """Caption report for ``manifest.json`` (JSON-serialisable, deterministic for a given build)."""
        with self._lock:
            banks = list(self._memo.values())
            n_caps = [len(b.captions) for b in banks]
            total = sum(n_caps)
            distinct = len({c for b in banks for c in b.captions})
            s = dict(self._stats)
            return {
                "backend": self.cfg.backend,
                "backends_used": dict(sorted(Counter(b.backend for b in banks).items())),
                "llm_id": self.generator.llm_id if self.generator else None,
                "prompt_id": self.generator.prompt.prompt_id if self.generator else self._knowledge_id,
                "prompt_sha256": self.generator.prompt.sha256 if self.generator else self.knowledge_sha256,
                "multilabel_policy": self.cfg.multilabel_policy,
                "uncertain_policy": self.cfg.uncertain_policy,
                "records": s.get("records", 0),
                "multilabel_records": s.get("multilabel_records", 0),
                "uncertain_labels": s.get("uncertain_labels", 0),
                "normal_dropped": s.get("normal_dropped", 0),
                "triples": len(banks),
                "captions_total": total,
                "captions_per_triple": {
                    "min": min(n_caps, default=0),
                    "mean": round(total / len(banks), 3) if banks else 0.0,
                    "max": max(n_caps, default=0),
                },
                "distinct_caption_ratio": round(distinct / total, 4) if total else 0.0,
                "fallbacks": sum(b.fallback for b in banks),
                "fallback_reasons": dict(sorted(self._fallback_reasons.items())),
                "llm_calls": s.get("llm_calls", 0),
                "llm_errors": s.get("llm_errors", 0),
                "cache_hits": s.get("cache_hits", 0),
                "cache_misses": s.get("cache_misses", 0),
                "rejected": dict(sorted(self._rejected.items())),
                "lint_fixes": dict(sorted(self._fixes.items())),
                "typo_flags": sum(self._unknown.values()),
                "unknown_words": dict(sorted(self._unknown.items(), key=lambda kv: (-kv[1], kv[0]))[:20]),
            }

    # -- internals ----------------------------------------------------------------------------------------
    def _key(self, modality: str, anatomy: str, labels: tuple[str, ...]) -> tuple:
        return (self.vocab.modality(modality), clean_label(anatomy), tuple(labels))

    def _bank_for(self, modality: str, anatomy: str, labels: tuple[str, ...]) -> CaptionBank:
        key = self._key(modality, anatomy, labels)
        with self._lock:
            if key in self._memo:
                return self._memo[key]
            klock = self._key_locks.setdefault(key, threading.Lock())
        with klock:
            with self._lock:
                if key in self._memo:
                    return self._memo[key]
            bank = self.generator.generate(*key) if self.generator else self.knowledge_bank(*key)
            with self._lock:
                self._memo[key] = bank
                if bank.fallback:
                    self._fallback_reasons[bank.fallback_reason.split(":")[0]] += 1
        return bank

    def knowledge_bank(
        self,
        modality: str,
        anatomy: str,
        labels: tuple[str, ...],
        *,
        requested: str = "knowledge",
        reason: str = "",
    ) -> CaptionBank:
        """The ``knowledge`` bank of a resolved triple (also the fallback of the LLM backends)."""
        caps = self.knowledge.generate(modality, anatomy, labels, self.cfg.n_captions, seed=self.cfg.seed)
        prov = make_provenance(
            requested=requested,
            generator="knowledge",
            llm_id=None,
            prompt_id=self._knowledge_id,
            prompt_sha256=self.knowledge_sha256,
            params={
                "seed": self.cfg.seed,
                "n_captions": self.cfg.n_captions,
                "synonym_rate": self.cfg.synonym_rate,
                **({"patterns": self.cfg.patterns} if self.cfg.patterns != "train" else {}),
            },
            triple=(modality, anatomy, labels),
            captions=caps,
            date=None,
            version=self.version,
        )
        return CaptionBank(
            modality, anatomy, labels, caps, [CAPTION_KIND] * len(caps), "knowledge",
            fallback=bool(reason), fallback_reason=reason, provenance=prov, bank_id=bank_id(prov),
        )  # fmt: skip

    @property
    def _knowledge_id(self) -> str:
        return "knowledge" if self.cfg.patterns == "train" else f"knowledge_{self.cfg.patterns}"

    def _union(self, banks: list[CaptionBank]) -> CaptionBank:
        caps = list(dict.fromkeys(c for b in banks for c in b.captions))
        prov = {"union_of": [b.bank_id for b in banks]}
        backends = sorted({b.backend for b in banks})
        return CaptionBank(
            banks[0].modality, banks[0].anatomy, tuple(x for b in banks for x in b.labels), caps,
            [CAPTION_KIND] * len(caps), "+".join(backends), fallback=any(b.fallback for b in banks),
            fallback_reason="; ".join(b.fallback_reason for b in banks if b.fallback_reason),
            provenance=prov, bank_id=bank_id(prov), cached=all(b.cached for b in banks),
        )  # fmt: skip

    def _count(self, **kw: int) -> None:
        with self._lock:
            self._stats.update(kw)

    def _record_validation_reason(self, reason: str) -> None:
        with self._lock:
            self._rejected[reason] += 1

    def _record_validation(self, rep) -> None:
        with self._lock:
            self._rejected.update(rep.rejected)
            self._fixes.update(rep.fixes)
            self._unknown.update(rep.unknown_words)
