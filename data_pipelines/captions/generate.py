"""LLM bank generation: cache lookup, prompt, bounded attempts, validation and the knowledge fallback."""

from __future__ import annotations

import logging
from collections import Counter

from .bank import CAPTION_KIND, CaptionBank, bank_id, make_provenance, today
from .cache import BankCache, cache_key
from .llm import LLMError, make_llm
from .prompt import load_prompt
from .validate import CaptionParseError, parse_caption_list

log = logging.getLogger("data_pipelines.captions")


class LLMGenerator:
    """Generates the LLM bank of a resolved triple for a :class:`CaptionConverter` (which owns the stats).

    Args:
        conv: The owning converter (config, vocabulary, validator, knowledge backend, counters).
        llm: Backend object, or ``None`` to build it from the config on first use (never when ``offline``).
        cache: The bank cache.
    """

    def __init__(self, conv, *, llm=None, cache: BankCache):
        self.conv = conv
        self.cfg = conv.cfg
        self._llm = llm
        self.cache = cache
        self.prompt = load_prompt(self.cfg.prompt)

    @property
    def llm(self):
        """The backend (built lazily so that cached / offline builds never load a model)."""
        if self._llm is None:
            self._llm = make_llm(self.cfg)
        return self._llm

    @property
    def backend_name(self) -> str:
        return self._llm.name if self._llm is not None else self.cfg.backend

    @property
    def llm_id(self) -> str:
        return self._llm.llm_id if self._llm is not None else self.cfg.model

    def params(self) -> dict:
        """Generation and validation parameters that shape a bank (part of the cache key and provenance)."""
        c = self.cfg
        return {
            "temperature": c.temperature,
            "top_p": c.top_p,
            "seed": c.seed,
            "max_tokens": c.max_tokens,
            "n_captions": c.n_captions,
            "min_captions": c.required_captions,
            "attempts": c.attempts,
            "min_words": c.min_words,
            "max_words": c.max_words,
            "max_caption_tokens": c.max_caption_tokens,
            "near_dup_jaccard": c.near_dup_jaccard,
            "typo_policy": c.typo_policy,
        }

    def key(self, modality: str, anatomy: str, labels: tuple[str, ...]) -> str:
        """Cache key: backend, model, prompt id + sha256, parameters and the triple."""
        return cache_key(
            {
                "backend": self.backend_name,
                "model": self.llm_id,
                "prompt_id": self.prompt.prompt_id,
                "prompt_sha256": self.prompt.sha256,
                "params": self.params(),
                "triple": [modality, anatomy, list(labels)],
            }
        )

    def generate(self, modality: str, anatomy: str, labels: tuple[str, ...]) -> CaptionBank:
        """The bank of one resolved triple (cached, generated, or the counted knowledge fallback)."""
        conv, cfg = self.conv, self.cfg
        key = self.key(modality, anatomy, labels)
        hit = None if cfg.refresh else self.cache.get(key)
        if hit is not None:
            conv._count(cache_hits=1)
            return self._from_entry(hit, modality, anatomy, labels)
        conv._count(cache_misses=1)
        if cfg.offline:
            return conv.knowledge_bank(modality, anatomy, labels, requested=cfg.backend, reason="offline: not cached")

        findings = [] if labels == ("normal",) else [conv.vocab.finding(x) for x in labels]
        study = conv.vocab.study_phrases(modality, anatomy)[0]
        noun, _ = conv.vocab.anatomy(anatomy)
        text = self.prompt.render(
            study=study, modality=modality, anatomy=noun, findings=findings,
            normal_markers=conv.vocab.normal_markers, n=cfg.n_captions,
            min_words=cfg.min_words, max_words=cfg.max_words,
        )  # fmt: skip
        accepted: list[str] = []
        problems: Counter = Counter()
        last_error = ""
        for attempt in range(cfg.attempts):
            try:
                answer = self.llm.complete(text, seed=cfg.seed + attempt)
                conv._count(llm_calls=1)
            except LLMError as e:
                conv._count(llm_errors=1)
                problems["llm_error"] += 1
                last_error = str(e)
                log.warning("caption LLM request failed for %s/%s/%s: %s", modality, anatomy, labels, e)
                continue
            try:
                items = parse_caption_list(answer)
            except CaptionParseError:
                conv._record_validation_reason("unparseable")
                problems["unparseable"] += 1
                continue
            rep = conv.validator.validate(items, findings, keep=accepted)
            conv._record_validation(rep)
            problems.update(rep.rejected)
            accepted += rep.accepted
            if len(accepted) >= cfg.n_captions:
                break
        accepted = accepted[: cfg.n_captions]
        if len(accepted) >= cfg.required_captions:
            bank = self._bank(modality, anatomy, labels, accepted, date=today())
        else:
            detail = ", ".join(f"{k}={v}" for k, v in sorted(problems.items()))
            n_ok, need = len(accepted), cfg.required_captions
            if set(problems) == {"llm_error"}:
                reason = f"llm_error: {last_error}"
            else:
                reason = f"invalid: {n_ok}/{need} valid captions after {cfg.attempts} attempts ({detail})"
            log.info("caption fallback to knowledge for %s/%s/%s: %s", modality, anatomy, labels, reason)
            bank = conv.knowledge_bank(modality, anatomy, labels, requested=cfg.backend, reason=reason)
        self.cache.put(key, {"triple": [modality, anatomy, list(labels)], **bank.to_dict()})
        return bank

    def _bank(self, modality, anatomy, labels, captions, *, date) -> CaptionBank:
        prov = make_provenance(
            requested=self.cfg.backend, generator=self.backend_name, llm_id=self.llm_id,
            prompt_id=self.prompt.prompt_id, prompt_sha256=self.prompt.sha256, params=self.params(),
            triple=(modality, anatomy, labels), captions=captions, date=date, version=self.conv.version,
        )  # fmt: skip
        return CaptionBank(
            modality, anatomy, labels, list(captions), [CAPTION_KIND] * len(captions), self.backend_name,
            provenance=prov, bank_id=bank_id(prov),
        )  # fmt: skip

    def _from_entry(self, entry: dict, modality, anatomy, labels) -> CaptionBank:
        return CaptionBank(
            modality, anatomy, labels, list(entry["captions"]), list(entry["kinds"]), entry["backend"],
            fallback=entry["fallback"], fallback_reason=entry["fallback_reason"],
            provenance=entry["provenance"], bank_id=entry["bank_id"], cached=True,
        )  # fmt: skip
