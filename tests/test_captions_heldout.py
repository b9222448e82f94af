"""Held-out eval caption bank (spec section 4): another prompt and seed, valid captions, the overlap report."""

import json

import pytest

from data_pipelines.build import build
from data_pipelines.captions import CaptionConfig, CaptionConverter
from data_pipelines.captions.cli import main as captions_main
from data_pipelines.captions.heldout import heldout_bank
from data_pipelines.captions.text import normalize
from data_pipelines.config import load_build_config
from data_pipelines.sources.demo import DEMO_CLASSES

TRIPLES = [(c.modality, c.anatomy, [c.label]) for c in DEMO_CLASSES]
IDS = [f"{m}|{a}|{labs[0]}" for m, a, labs in TRIPLES]


@pytest.fixture(scope="module")
def demo_doc():
    conv = CaptionConverter(CaptionConfig())
    train = {i: b.captions for i, b in zip(IDS, conv.banks(TRIPLES))}
    return conv, train, heldout_bank(CaptionConfig(), TRIPLES, train)


def test_heldout_knowledge_bank_is_valid_and_disjoint_from_training(demo_doc):
    conv, train, doc = demo_doc
    assert doc["config"] == {"backend": "knowledge", "prompt": "label_to_caption_eval_v1", "seed": 1000,
                             "patterns": "eval"}  # fmt: skip
    assert list(doc["classes"]) == IDS and doc["stats"]["prompt_id"] == "knowledge_eval"
    for tid, c in doc["classes"].items():
        assert len(c["captions"]) == 10 == len(set(c["captions"]))
        findings = [] if c["labels"] == ["normal"] else [conv.vocab.finding(x) for x in c["labels"]]
        for cap in c["captions"]:  # the LLM-answer validator accepts every held-out caption
            _, reason, _ = conv.validator.check(cap, findings)
            assert reason is None, (tid, cap, reason)
        assert not {normalize(x) for x in c["captions"]} & {normalize(x) for x in train[tid]}
        assert c["bank_id"] != conv.bank(c["modality"], c["anatomy"], c["labels"]).bank_id
    ov = doc["overlap"]
    assert ov["exact_total"] == 0 and ov["near_duplicates_total"] == 0
    assert ov["all"]["exact"] == 0 and ov["all"]["ngram_overlap"] < 0.1  # measured 0.029
    assert ov["max_same_class_jaccard"] < 0.9
    # deterministic: the same config gives the same document
    assert json.dumps(heldout_bank(CaptionConfig(), TRIPLES, train), sort_keys=True) == json.dumps(doc, sort_keys=True)


def test_overlap_per_class_matches_a_hand_computed_jaccard(demo_doc):
    _, train, doc = demo_doc
    tid = "xray|chest|pneumonia"

    def words(s):
        return set(normalize(s).split())

    best = max(
        len(words(e) & words(t)) / len(words(e) | words(t)) for e in doc["classes"][tid]["captions"] for t in train[tid]
    )
    assert doc["overlap"]["per_class"][tid]["max_jaccard"] == pytest.approx(best, abs=1e-4)


class RecordingLLM:
    name, llm_id = "fake", "fake-llm"

    def __init__(self):
        self.calls = []

    def complete(self, prompt, *, seed):
        self.calls.append((prompt, seed))
        if "image is normal" in prompt:
            caps = [f"A healthy looking chest X-ray number {i} with normal lungs." for i in range(10)]
        else:
            caps = [f"Patchy pneumonia seen in this chest X-ray, example {i}." for i in range(10)]
        return json.dumps(caps)


def test_heldout_llm_bank_uses_the_eval_prompt_and_seed():
    llm = RecordingLLM()
    cfg = CaptionConfig(backend="openai", model="m", seed=3, eval_seed=77, near_dup_jaccard=1.0)
    triples = [("xray", "chest", ["pneumonia"]), ("xray", "chest", ["normal"])]
    train = {"0": ["Impression: pneumonia."], "1": ["Normal chest radiograph."]}
    doc = heldout_bank(cfg, triples, train, ids=["0", "1"], llm=llm)
    assert len(llm.calls) == 2 and {s for _, s in llm.calls} == {77}
    assert all("held-out evaluation prompts" in p for p, _ in llm.calls)
    assert doc["config"]["prompt"] == "label_to_caption_eval_v1" and doc["classes"]["0"]["backend"] == "fake"
    assert not doc["classes"]["0"]["fallback"] and len(doc["classes"]["1"]["captions"]) == 10


def test_build_writes_eval_captions_and_reports_overlap(tmp_path, capsys):
    ov = ["sources.demo.classes=[xray/normal, ct/kidney stone]", "sources.demo.train=2", "sources.demo.val=0",
          "sources.demo.test=1", "sources.demo.test_shifted=0", "sources.demo.image_size=32",
          "captions.eval_bank=true"]  # fmt: skip
    rep = build(load_build_config(None, ov), out=tmp_path, workers=1, progress=False, log=lambda *a: None)
    doc = json.loads((tmp_path / "eval_captions.json").read_text())
    assert sorted(doc["classes"]) == ["ct|abdomen|kidney stone", "xray|chest|normal"]
    man = json.loads((tmp_path / "train" / "manifest.json").read_text())
    assert man["captions"]["heldout"] == rep.heldout and rep.heldout["classes"] == 2
    assert rep.heldout["exact"] == doc["overlap"]["exact_total"] == 0
    with pytest.raises(Exception, match="eval_seed must differ"):
        load_build_config(None, [*ov, "captions.eval_seed=0"]).caption_config().validate()


def test_captions_cli_overlap_heldout(capsys):
    assert captions_main(["overlap", "--heldout", "--modality", "us", "--anatomy", "breast",
                          "--labels", "benign mass"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "# held-out: ultrasound / breast / benign mass" in out and '"exact": 0' in out
    assert captions_main(["overlap", "--modality", "xray", "--labels", "normal"]) == 2
    assert "needs --eval-prompts FILE or --heldout" in capsys.readouterr().err
