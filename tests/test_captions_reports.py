"""Report-to-caption conversion: the rule extractor, the hallucination checker, and the LLM path against the
mock OpenAI-compatible server (retries, counted fallbacks, and no identifier in any request, cache or log)."""

from __future__ import annotations

import json
import logging
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from mock_llm_server import HALLUCINATIONS, MockLLMServer  # noqa: E402

from data_pipelines.captions import CaptionConfig  # noqa: E402
from data_pipelines.captions.report_check import ReportFacts, asserts_finding, check_caption  # noqa: E402
from data_pipelines.captions.report_rules import extract_captions, sections  # noqa: E402
from data_pipelines.captions.reports import ReportCaptioner, report_to_captions  # noqa: E402
from data_pipelines.deid.corpus import planted_corpus  # noqa: E402

REPORT = """EXAM: CHEST PA AND LATERAL   DATE: 03/04/2021
PATIENT: ZYLSTRA, COSIMA   MRN: 40917733   DOB: 11/02/1931
HISTORY: Cough. Referred by Dr. Radomir Haverkamp, phone (617) 555-0142.
FINDINGS: There is a small right pleural effusion. No pneumothorax. The heart size is normal.
Patchy opacity in the left lower lobe may represent atelectasis. Compared with the prior study of 01/02/2021,
the effusion is new.
IMPRESSION: 1. Small right pleural effusion. 2. Possible left basilar atelectasis.
Findings discussed with Dr. Haverkamp on 03/04/2021 at 14:10. Electronically signed by Ingeborg Quintero, MD."""
IDENTIFIERS = [
    "03/04/2021", "ZYLSTRA", "COSIMA", "40917733", "11/02/1931", "Radomir", "Haverkamp", "555-0142",
    "01/02/2021", "Ingeborg", "Quintero",
]  # fmt: skip


def make(srv, tmp_path, **over):
    cfg = CaptionConfig(
        backend="openai", model="mock", base_url=srv.base_url, api_key_env="", retries=0, backoff=0.01,
        timeout=5, attempts=3, cache=str(tmp_path / "cache.jsonl"), concurrency=over.pop("concurrency", 1),
    )  # fmt: skip
    for k, v in over.items():
        setattr(cfg, k, v)
    return ReportCaptioner(cfg)


def test_sections_and_rule_captions_keep_negations_and_hedges_and_drop_admin_sentences():
    scrubbed = report_to_captions(REPORT, 10)
    secs = sections("FINDINGS: A b. IMPRESSION: C d.")
    assert secs == {"findings": "A b.", "impression": "C d."}
    assert scrubbed.backend == "rules" and scrubbed.fallbacks == 0
    caps = scrubbed.captions
    # impression first, positive findings before negatives; comparison / signature / placeholder lines dropped
    assert caps[:2] == ["Small right pleural effusion.", "Possible left basilar atelectasis."]
    assert "No pneumothorax." in caps and "The heart size is normal." in caps
    assert "Patchy opacity in the left lower lobe may represent atelectasis." in caps
    assert not any("prior" in c or "signed" in c or "discussed" in c or "[" in c for c in caps)
    dropped = report_to_captions(REPORT, 10, hedges="drop").captions
    assert "Possible left basilar atelectasis." not in dropped and "No pneumothorax." in dropped
    assert not any("may represent" in c for c in dropped)
    assert scrubbed.phi == {"DATE": 4, "ID": 1, "NAME": 4, "PHONE": 1}  # "SMITH, JOHN" is one name
    # a short report gives fewer captions, pairs first fill up to n
    short = extract_captions("FINDINGS: Small left effusion. No pneumothorax.", 5)
    assert short == ["Small left effusion.", "No pneumothorax.", "Small left effusion. No pneumothorax."]
    # all-caps organ labels are kept, in sentence case
    organs = extract_captions("FINDINGS: LIVER: 1 cm cyst. Heart: Normal size.", 2, positive=asserts_finding)
    assert organs == ["Liver: 1 cm cyst.", "Heart: Normal size."]


@pytest.mark.parametrize(
    "caption, reason",
    [
        ("Small right pleural effusion.", None),
        ("No pneumothorax is seen.", None),
        ("Possible atelectasis at the left base.", None),
        ("There is a right pneumothorax.", "contradicted"),  # the report negates it
        ("Left basilar atelectasis.", "unhedged"),  # the report only hedges it
        ("Acute fracture of the clavicle.", "unsupported"),  # never mentioned
        ("No pleural effusion.", "contradicted"),
        ("No cardiomegaly.", "unsupported"),
        ("Dextrocardia with situs inversus totalis.", "novel_content"),
        ("Dr. John Smith reviewed this effusion.", "phi"),
        ("Patient [NAME] has an effusion.", "phi"),
        ("Possible pneumonia.", "contradicted"),  # "unlikely" is a negation, not a hedge
        ("Small 2 cm right pleural effusion.", "number"),
        ("Small left pleural effusion.", "side"),
        ("Bilateral pleural effusions.", "side"),
    ],
)
def test_checker_rejects_what_the_report_does_not_support(caption, reason):
    facts = ReportFacts(
        "FINDINGS: Small right pleural effusion. No pneumothorax. Heart size is normal. "
        "IMPRESSION: Possible left basilar atelectasis. Pneumonia is unlikely."
    )
    assert check_caption(caption, facts) == reason


def test_good_answer_is_used_without_fallback(tmp_path):
    with MockLLMServer(["good"]) as srv:
        cap = make(srv, tmp_path)
        rc = cap.captions(REPORT, 3)
    assert rc.backend == "openai" and rc.fallbacks == 0 and rc.llm_calls == 1 and rc.validation_failures == 0
    assert len(rc.captions) == 3 and all("[" not in c for c in rc.captions)


@pytest.mark.parametrize(
    "script, calls, reasons",
    [
        (["hallucinate"], 3, {"unsupported": 6, "contradicted": 3, "novel_content": 3}),
        (["garbage"], 3, {"unparseable": 3}),
        (["phi"], 3, {"phi": 15}),
    ],
)
def test_bad_answers_are_retried_then_fall_back_to_rules_with_counts(tmp_path, script, calls, reasons):
    with MockLLMServer(script) as srv:
        cap = make(srv, tmp_path)
        rc = cap.captions(REPORT, 3)
        assert srv.requests == calls
    assert rc.backend == "rules" and rc.fallbacks == 1 and rc.llm_calls == calls
    assert rc.failure_reasons == reasons and rc.validation_failures == sum(reasons.values())
    assert rc.captions == report_to_captions(REPORT, 3).captions  # the rule extractor's captions
    st = cap.stats()
    assert st["fallbacks"] == 1 and st["llm_calls"] == calls and st["failure_reasons"] == reasons


def test_retry_after_hallucination_succeeds(tmp_path):
    with MockLLMServer(["hallucinate", "garbage", "good"]) as srv:
        rc = make(srv, tmp_path).captions(REPORT, 3)
    assert rc.backend == "openai" and rc.fallbacks == 0 and rc.llm_calls == 3
    assert rc.failure_reasons == {"unsupported": 2, "contradicted": 1, "novel_content": 1, "unparseable": 1}
    assert not set(rc.captions) & set(HALLUCINATIONS)


def test_transport_errors_fall_back_with_llm_error_reason(tmp_path):
    with MockLLMServer(["error"]) as srv:
        rc = make(srv, tmp_path).captions(REPORT, 3)
    assert rc.backend == "rules" and rc.fallbacks == 1 and rc.fallback_reason.startswith("llm_error")
    assert rc.validation_failures == 0


def test_no_identifier_reaches_a_request_body_the_cache_or_a_log(tmp_path, caplog):
    docs = planted_corpus(12, seed=3)
    values = {d.text[p.start : p.end] for d in docs for p in d.planted} | set(IDENTIFIERS)
    values = {v for v in values if len(v) >= 4}
    reports = [REPORT] + [d.text for d in docs]
    caplog.set_level(logging.DEBUG)
    with MockLLMServer(["phi", "hallucinate", "garbage", "error", "good"]) as srv:
        cap = make(srv, tmp_path, concurrency=4, attempts=4)
        results = cap.many(reports, 3)
        bodies = list(srv.bodies)
    assert len(bodies) >= len(reports)
    texts = [json.dumps(json.loads(b)["messages"], ensure_ascii=False) for b in bodies]
    leaked = [v for v in values for t in texts + [b.decode("utf-8", "replace") for b in bodies] if v in t]
    assert leaked == []
    cache_text = (tmp_path / "cache.jsonl").read_text()
    assert len(cache_text.splitlines()) == len(reports)
    assert [v for v in values if v in cache_text] == []
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert [v for v in values if v in logged] == []
    outputs = json.dumps([r.__dict__ for r in results])
    assert [v for v in values if v in outputs] == []
    assert cap.stats()["phi_scrubbed"]["NAME"] >= 3


def test_cache_hit_makes_no_request_and_offline_never_calls(tmp_path):
    with MockLLMServer(["good"]) as srv:
        first = make(srv, tmp_path).captions(REPORT, 3)
        again = make(srv, tmp_path).captions(REPORT, 3)
        assert srv.requests == 1
        off = make(srv, tmp_path, offline=True).captions(REPORT.replace("small", "large"), 3)
        assert srv.requests == 1
    assert again.cached and again.captions == first.captions and again.backend == "openai"
    entry = json.loads((tmp_path / "cache.jsonl").read_text().splitlines()[0])
    assert entry["report_sha256"] == first.report_sha256 and entry["prompt_id"] == "report_to_caption_v1"
    assert entry["llm_id"] == "mock" and entry["version"] == "reports-1"
    assert off.backend == "rules" and off.fallbacks == 1 and off.fallback_reason == "offline: not cached"


def test_concurrency_is_respected(tmp_path):
    with MockLLMServer(["good"], delay_s=0.15) as srv:
        cap = make(srv, tmp_path, concurrency=3)
        cap.cache.path = None  # every report is distinct anyway
        cap.many([REPORT.replace("small", f"small {i} mm") for i in range(9)], 2)
        assert srv.max_in_flight == 3 and srv.requests == 9


class RecordingLLM:
    """Any backend (``hf``, a plug-in): records every prompt, answers hallucinations then good captions."""

    name, llm_id = "hf", "tiny:0"

    def __init__(self):
        self.prompts = []

    def complete(self, prompt, *, seed):
        self.prompts.append(prompt)
        if len(self.prompts) == 1:
            return json.dumps(HALLUCINATIONS)
        return json.dumps(["Small right pleural effusion.", "No pneumothorax.", "Possible left basilar atelectasis."])


def test_any_backend_object_gets_only_the_scrubbed_report(tmp_path):
    llm = RecordingLLM()
    cap = ReportCaptioner(CaptionConfig(backend="hf", model="unused", attempts=2), llm=llm)
    rc = cap.captions(REPORT, 3)
    assert rc.backend == "hf" and rc.llm_calls == 2 and rc.fallbacks == 0
    assert rc.captions == ["Small right pleural effusion.", "No pneumothorax.", "Possible left basilar atelectasis."]
    assert len(llm.prompts) == 2 and "[NAME]" in llm.prompts[0] and "pleural effusion" in llm.prompts[0]
    assert [v for v in IDENTIFIERS for p in llm.prompts if v in p] == []
    # the module function: rules backend without a config, shared captioner, same answer as a fresh one
    assert report_to_captions(REPORT, 4).captions == ReportCaptioner().captions(REPORT, 4).captions


def test_llm_backend_without_model_or_unknown_name_fails_early():
    from medclip.config import ConfigError

    with pytest.raises(ConfigError, match="captions.model is required"):
        report_to_captions(REPORT, 3, backend="openai")
    with pytest.raises(ConfigError, match="opena"):
        ReportCaptioner(backend="opena")


def test_rule_captions_pass_the_checker_and_hold_no_placeholder():
    from data_pipelines.deid import scrub

    cap = ReportCaptioner()
    n_caps = 0
    for text in [REPORT] + [d.text for d in planted_corpus(40, seed=2)]:
        scrubbed = scrub(text).text
        facts = ReportFacts(scrubbed)
        for c in cap.rules(scrubbed, 6):
            n_caps += 1
            assert check_caption(c, facts) is None, c
            assert "[" not in c and "Dr." not in c
    assert n_caps > 150


@pytest.mark.slow  # about 20 s on a loaded 2-core machine (transformers import + sampling)
def test_hf_backend_gibberish_falls_back_and_sees_only_the_scrubbed_report(tmp_path, monkeypatch):
    from lm_fixtures import save_tiny_lm

    from data_pipelines.captions.hf_backend import HFBackend

    path = save_tiny_lm(tmp_path / "tiny_lm")
    prompts = []
    real = HFBackend.complete
    monkeypatch.setattr(HFBackend, "complete", lambda self, p, *, seed: prompts.append(p) or real(self, p, seed=seed))
    cap = ReportCaptioner(CaptionConfig(backend="hf", model=str(path), max_tokens=24, attempts=2, temperature=1.0))
    rc = cap.captions(REPORT, 3)
    assert rc.backend == "rules" and rc.fallbacks == 1 and rc.llm_calls == 2
    assert rc.captions == report_to_captions(REPORT, 3).captions
    assert len(prompts) == 2 and [v for v in IDENTIFIERS for p in prompts if v in p] == []
