"""Caption backends are a medclip.registry.Registry: a plug-in backend is one registered class."""

import json

import pytest

from data_pipelines.captions import CaptionConfig, CaptionConverter
from data_pipelines.captions.errors import LLMConfigError, LLMError
from data_pipelines.captions.hf_backend import HFBackend
from data_pipelines.captions.knowledge import KnowledgeBackend
from data_pipelines.captions.llm import CAPTION_BACKENDS, caption_backends, make_llm
from data_pipelines.captions.llm import LLMConfigError as LegacyConfigError
from data_pipelines.captions.llm import LLMError as LegacyError
from data_pipelines.captions.openai_backend import OpenAIBackend
from medclip.config import ConfigError

ANSWER = [f"Radiograph number {i} demonstrates pneumonia in the lower zone." for i in range(5)]


class EchoBackend:
    """Answers every prompt with ANSWER and remembers what it was asked."""

    name = "echo"

    def __init__(self, model: str):
        self.llm_id = f"echo:{model}"
        self.prompts: list[tuple[str, int]] = []

    @classmethod
    def from_config(cls, cfg):
        return cls(cfg.model)

    def complete(self, prompt: str, *, seed: int) -> str:
        self.prompts.append((prompt, seed))
        return json.dumps(ANSWER)


@pytest.fixture
def echo():
    CAPTION_BACKENDS.register("echo", EchoBackend)
    yield
    CAPTION_BACKENDS.unregister("echo")


def test_builtin_backends_register_themselves_and_errors_keep_their_old_import_path():
    reg = caption_backends()
    assert (
        reg.get("openai") is OpenAIBackend and reg.get("hf") is HFBackend and reg.get("knowledge") is KnowledgeBackend
    )
    assert reg.names(llm=False) == ["knowledge"]
    assert LegacyConfigError is LLMConfigError and LegacyError is LLMError
    assert issubclass(LLMConfigError, ConfigError)


def test_registered_plugin_backend_generates_the_bank(echo):
    cfg = CaptionConfig(backend="echo", model="m1", n_captions=5, attempts=1, seed=7)
    cfg.validate()
    conv = CaptionConverter(cfg)
    bank = conv.bank("xray", "chest", ["pneumonia"])
    assert (bank.backend, bank.fallback, bank.captions) == ("echo", False, ANSWER)
    assert bank.provenance["llm_id"] == "echo:m1"
    asked = conv.generator._llm.prompts
    assert len(asked) == 1 and "pneumonia" in asked[0][0]
    assert conv.stats()["backends_used"] == {"echo": 1}


def test_unknown_backend_names_close_matches_and_knowledge_is_not_an_llm():
    with pytest.raises(ConfigError, match=r"captions\.backend: unknown caption backend 'opnai'\. Did you mean: openai"):
        CaptionConfig(backend="opnai", model="m").validate()
    with pytest.raises(ValueError, match="no LLM backend for 'knowledge'"):
        make_llm(CaptionConfig())
