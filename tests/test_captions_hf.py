"""The `hf` caption backend with a tiny randomly initialised causal LM built offline."""

import pytest
from lm_fixtures import save_tiny_lm

from data_pipelines.captions import CaptionConfig, CaptionConverter
from data_pipelines.captions.llm import LLMConfigError


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    return save_tiny_lm(tmp_path_factory.mktemp("tiny_lm"))


def test_tiny_lm_gibberish_is_rejected_and_falls_back(tiny_lm, tmp_path):
    cfg = CaptionConfig(
        backend="hf", model=tiny_lm, max_tokens=40, attempts=2, cache=str(tmp_path / "c.jsonl"), temperature=1.0
    )
    conv = CaptionConverter(cfg)
    b = conv.bank("xray", "chest", ["pneumonia"])
    assert b.fallback and b.backend == "knowledge" and len(b.captions) == 10
    assert b.fallback_reason.startswith("invalid: 0/10")
    st = conv.stats()
    assert st["llm_calls"] == 2 and st["fallbacks"] == 1 and sum(st["rejected"].values()) >= 2
    raw = conv.generator.llm.complete("Write captions.", seed=3)
    assert raw == conv.generator.llm.complete("Write captions.", seed=3)  # seeded sampling
    assert conv.generator.llm.llm_id.startswith(tiny_lm.rstrip("/").split("/")[-1] + ":")
    # a rebuild with the same config reads the cache and never loads the model
    again = CaptionConverter(cfg)
    b2 = again.bank("xray", "chest", ["pneumonia"])
    st2 = again.stats()
    assert st2["llm_calls"] == 0 and st2["fallbacks"] == 1 and st2["cache_hits"] == 1
    assert b2.cached and b2.captions == b.captions and again.generator._llm is None


def test_missing_model_folder_is_a_clear_error(tmp_path):
    conv = CaptionConverter(CaptionConfig(backend="hf", model=str(tmp_path / "nope")))
    with pytest.raises(LLMConfigError, match="no local model folder"):
        conv.bank("xray", "chest", ["pneumonia"])
