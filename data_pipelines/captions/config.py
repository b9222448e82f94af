"""``CaptionConfig``: every setting of the label-to-caption converter (a ``medclip.config`` dataclass)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from medclip.config import ConfigError

from .llm import caption_backends

MULTILABEL_POLICIES = ("compose", "per_label", "first")
UNCERTAIN_POLICIES = ("ignore", "positive", "negative")
TYPO_POLICIES = ("flag", "reject")


@dataclass
class CaptionConfig:
    """Label-to-caption converter settings (YAML section ``captions`` of a data config)."""

    backend: str = "knowledge"  # knowledge | openai | hf | a registered plug-in (captions.registry)
    n_captions: int = 10  # captions per (modality, anatomy, label set)
    min_captions: int = 0  # LLM banks with fewer valid captions fall back; 0 means n_captions
    multilabel_policy: str = "compose"  # compose (one bank per sorted label set) | per_label (union) | first
    uncertain_policy: str = "ignore"  # CheXpert -1 labels: ignore | positive | negative
    seed: int = 0  # knowledge sampling seed; also sent to the LLM
    synonym_rate: float = 0.3  # knowledge backend: share of captions naming the finding by a synonym
    knowledge_path: str = ""  # alternative knowledge YAML ("" = packaged data/knowledge.yaml)
    # LLM backends
    model: str = ""  # openai: model name on the server; hf: local folder of a causal LM
    base_url: str = "http://127.0.0.1:8000/v1"  # OpenAI-compatible endpoint (…/chat/completions is appended)
    api_key_env: str = "OPENAI_API_KEY"  # name of the env variable holding the key ("" = no key)
    prompt: str = "label_to_caption_v1"  # prompt file prompts/<prompt>.txt, or a path to a .txt file
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 512  # completion budget per request
    timeout: float = 60.0  # seconds per HTTP request
    retries: int = 3  # transport retries per request (timeouts, connection errors, 429, 5xx)
    backoff: float = 1.0  # first retry delay in seconds, doubled each retry
    attempts: int = 3  # generation attempts per triple before falling back to `knowledge`
    concurrency: int = 4  # parallel triples (threads) in `CaptionConverter.banks`
    device: str = "cpu"  # hf backend device
    # cache
    cache: str = ""  # JSON-lines cache file ("" = no cache)
    refresh: bool = False  # regenerate even when cached (the new bank replaces the old one)
    offline: bool = False  # never call an LLM: cached banks or the knowledge fallback
    # validation
    min_words: int = 4
    max_words: int = 48
    max_caption_tokens: int = 256  # text-tower context; counted with the tokenizer if one is given
    near_dup_jaccard: float = 0.9  # normalized-text word-set Jaccard at or above which captions are duplicates
    typo_policy: str = "flag"  # flag (report unknown words) | reject (drop captions with unknown words)
    # held-out eval bank (spec section 4, "eval hygiene"): a second bank with another prompt and seed
    eval_bank: bool = False  # the shard build also writes <out>/eval_captions.json + the overlap report
    eval_prompt: str = "label_to_caption_eval_v1"  # LLM prompt of the held-out bank
    eval_seed: int = 1000  # seed of the held-out bank (knowledge sampling / LLM)
    patterns: str = "train"  # knowledge pattern set: train (report sentences) | eval (held-out register)

    def validate(self) -> None:
        """Check value ranges; raise :class:`ConfigError` with a one-line message."""
        backends = caption_backends()
        checks = [
            (self.backend in backends, f"captions.backend: {backends.unknown_message(self.backend)}"),
            (
                self.multilabel_policy in MULTILABEL_POLICIES,
                f"captions.multilabel_policy must be one of {MULTILABEL_POLICIES}, got {self.multilabel_policy!r}",
            ),
            (
                self.uncertain_policy in UNCERTAIN_POLICIES,
                f"captions.uncertain_policy must be one of {UNCERTAIN_POLICIES}, got {self.uncertain_policy!r}",
            ),
            (
                self.typo_policy in TYPO_POLICIES,
                f"captions.typo_policy must be one of {TYPO_POLICIES}, got {self.typo_policy!r}",
            ),
            (self.patterns in ("train", "eval"), f"captions.patterns must be train or eval, got {self.patterns!r}"),
            (not self.eval_bank or self.eval_seed != self.seed, "captions.eval_seed must differ from captions.seed"),
            (1 <= self.n_captions <= 100, f"captions.n_captions must be in [1, 100], got {self.n_captions}"),
            (0 <= self.min_captions <= self.n_captions, "captions.min_captions must be in [0, n_captions]"),
            (0.0 <= self.synonym_rate <= 1.0, "captions.synonym_rate must be in [0, 1]"),
            (0.0 < self.near_dup_jaccard <= 1.0, "captions.near_dup_jaccard must be in (0, 1]"),
            (1 <= self.min_words <= self.max_words, "captions.min_words must be in [1, max_words]"),
            (self.max_caption_tokens >= 8, "captions.max_caption_tokens must be >= 8"),
            (self.timeout > 0, "captions.timeout must be > 0"),
            (self.retries >= 0 and self.attempts >= 1, "captions.retries must be >= 0 and attempts >= 1"),
            (self.concurrency >= 1, "captions.concurrency must be >= 1"),
            (self.max_tokens >= 16, "captions.max_tokens must be >= 16"),
            (
                self.backend == "knowledge" or self.model,
                f"captions.model is required for backend {self.backend!r}",
            ),
        ]
        for ok, msg in checks:
            if not ok:
                raise ConfigError(msg)

    def heldout(self) -> CaptionConfig:
        """The config of the held-out eval bank: ``eval_prompt``, ``eval_seed`` and the ``eval`` patterns."""
        return replace(self, prompt=self.eval_prompt, seed=self.eval_seed, patterns="eval", eval_bank=False)

    @property
    def required_captions(self) -> int:
        """Minimum number of valid LLM captions for a bank not to fall back."""
        return self.min_captions or self.n_captions
