"""A ``pairs`` build whose reports are captioned by an LLM backend (``report_backend: openai``) with the build's
``captions`` settings, against the mock OpenAI-compatible server: captions in the shards, the captioner's
counters in the manifest equal to what the mock recorded, and no planted identifier in any request body,
shard, cache file or manifest."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import tarfile

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
from mock_llm_server import HALLUCINATIONS, PHI_ECHO, MockLLMServer, good_captions  # noqa: E402

from data_pipelines.build import build  # noqa: E402
from data_pipelines.captions.reports import ReportCaptioner, report_to_captions  # noqa: E402
from data_pipelines.captions.text import lint  # noqa: E402
from data_pipelines.config import BuildConfig  # noqa: E402
from data_pipelines.deid import scrub  # noqa: E402

FINDINGS = [
    "There is a small right pleural effusion. No pneumothorax. The heart size is normal.",
    "Patchy opacity in the left lower lobe may represent atelectasis. No pleural effusion.",
    "The lungs are clear. No focal consolidation. The cardiomediastinal silhouette is normal.",
    "Mild cardiomegaly. Small bilateral pleural effusions. No pneumothorax.",
]
IMPRESSION = ["Small right pleural effusion.", "Possible left basilar atelectasis.", "No acute disease.",
              "Cardiomegaly with small effusions."]  # fmt: skip
SURNAMES = ["Zylstra", "Haverkamp", "Quintero", "Okonkwo-Brandt", "Vasquez", "Lindqvist"]


def _planted(i: int) -> dict[str, str]:
    return {
        "name": f"{SURNAMES[i]}, Cosima",
        "mrn": f"{40917733 + 1111 * i}",
        "dob": f"11/0{i + 1}/1931",
        "phone": f"(617) 555-01{40 + i}",
        "doctor": f"Radomir {SURNAMES[(i + 1) % len(SURNAMES)]}",
        "date": f"03/0{i + 2}/2021",
    }


def _report(i: int) -> str:
    p = _planted(i)
    return (
        f"EXAM: CHEST PA AND LATERAL   DATE: {p['date']}\n"
        f"PATIENT: {p['name']}   MRN: {p['mrn']}   DOB: {p['dob']}\n"
        f"HISTORY: Cough for {i + 2} days. Referred by Dr. {p['doctor']}, phone {p['phone']}.\n"
        f"FINDINGS: {FINDINGS[i % len(FINDINGS)]}\n"
        f"IMPRESSION: {IMPRESSION[i % len(IMPRESSION)]}\n"
        f"Findings discussed with Dr. {p['doctor']} on {p['date']}. Electronically signed by Ingeborg Quintero, MD."
    )


N = 5
VALUES = sorted({v for i in range(N) for v in _planted(i).values()} | {"Cosima", "Ingeborg", "Radomir"})
VALUES += sorted({part for v in VALUES for part in v.replace(",", " ").split() if len(part) >= 5} - set(VALUES))


def _fixture(tmp_path):
    rng = np.random.default_rng(3)
    (tmp_path / "im").mkdir()
    rows = []
    for i in range(N):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (40 + i, 48), dtype=np.uint8)).save(buf, format="PNG")
        (tmp_path / "im" / f"{i}.png").write_bytes(buf.getvalue())
        rows.append({"file": f"im/{i}.png", "report": _report(i), "id": f"case{i}"})
    with open(tmp_path / "reports.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["file", "report", "id"])
        w.writeheader()
        w.writerows(rows)
    return rows


def _cfg(tmp_path, srv, out="out", **captions) -> BuildConfig:
    cap = dict(
        model="mock", base_url=srv.base_url, api_key_env="", retries=0, backoff=0.01, timeout=5, attempts=2,
        cache=str(tmp_path / "cache.jsonl"), concurrency=2, **captions,
    )  # fmt: skip
    src = dict(
        type="pairs", path=str(tmp_path / "reports.csv"), image_column="file", text_column="report", id_column="id",
        text_kind="report", report_backend="openai", n_report_captions=3, modality="xray",
    )  # fmt: skip
    return BuildConfig(name="rep", out=str(tmp_path / out), captions=cap, sources={"p": src})


def _shards(root) -> tuple[dict, bytes]:
    out, raw = {}, b""
    for tar in sorted((root / "train").glob("*.tar")):
        raw += tar.read_bytes()
        with tarfile.open(tar) as tf:
            for m in tf:
                if m.name.endswith(".json"):
                    meta = json.loads(tf.extractfile(m).read())
                    out[meta["source_id"]] = meta
    return out, raw


def _leaks(text: str) -> list[str]:
    return [v for v in VALUES if v in text]


def _run(tmp_path, script, out="out"):
    rows = _fixture(tmp_path)
    with MockLLMServer(script) as srv:
        rep = build(_cfg(tmp_path, srv, out), workers=2, progress=False, log=lambda *a: None)
        bodies = [b.decode("utf-8", "replace") for b in srv.bodies]
    root = tmp_path / out
    man_text = (root / "train" / "manifest.json").read_text()
    man = json.loads(man_text)
    metas, raw = _shards(root)
    assert rep.splits["train"]["samples"] == len(metas) == N
    assert all(len(_leaks(r["report"])) >= 8 for r in rows)  # the planted identifiers are in the input
    # nothing planted reaches a request body, a shard, the cache or the manifest
    assert _leaks("\n".join(bodies)) == []
    assert _leaks(raw.decode("latin-1")) == []
    assert _leaks((tmp_path / "cache.jsonl").read_text()) == []
    assert _leaks(man_text) == []
    return rows, bodies, man, metas, rep


def _prompt_report(body: str) -> str:
    return json.loads(body)["messages"][-1]["content"]


def test_good_answers_become_the_shard_captions_and_counts_match_the_mock(tmp_path):
    rows, bodies, man, metas, rep = _run(tmp_path, ["good"])
    rc = man["captions"]["pairs"]["p"]["report_captions"]
    assert len(bodies) == N  # one request per report, each with the scrubbed report only
    assert rc == {
        "backend": "openai", "reports": N, "llm_calls": len(bodies), "cache_hits": 0, "cache_misses": N,
        "validation_failures": 0, "fallbacks": 0, "failure_reasons": {},
    }  # fmt: skip
    assert rep.caption_stats["pairs"]["p"]["report_captions"] == rc
    from data_pipelines.summary import print_summary

    lines: list[str] = []
    print_summary(rep, log=lines.append)
    assert f"pairs p report captions: backend=openai reports={N} llm_calls={N} cache_hits=0 fallbacks=0" in "\n".join(
        lines
    )
    answers = {}  # what the mock answered, keyed by the scrubbed report it saw
    for b in bodies:
        prompt = _prompt_report(b)
        answers[prompt] = [lint(c)[0] for c in good_captions(prompt, 5)][:3]
    for i, row in enumerate(rows):
        meta = metas[f"case{i}"]
        scrubbed = scrub(row["report"]).text
        assert meta["report"] == scrubbed and meta["caption_kinds"] == ["report"] * len(meta["captions"])
        assert meta["caption_backend"] == "report:openai"
        mine = [a for p, a in answers.items() if scrubbed in p]
        assert len(mine) == 1 and meta["captions"] == mine[0]
    # a second build with the same cache makes no request and records cache hits
    with MockLLMServer(["good"]) as srv:
        build(_cfg(tmp_path, srv, "out2"), workers=1, progress=False, log=lambda *a: None)
        assert srv.requests == 0
    man2 = json.loads((tmp_path / "out2" / "train" / "manifest.json").read_text())
    rc2 = man2["captions"]["pairs"]["p"]["report_captions"]
    assert rc2["cache_hits"] == N and rc2["llm_calls"] == 0 and rc2["cache_misses"] == 0
    assert _shards(tmp_path / "out2")[0] == metas


@pytest.mark.parametrize("mode", ["hallucinate", "phi"])
def test_bad_answers_fall_back_to_rules_with_counts_equal_to_the_mock_requests(tmp_path, mode):
    rows, bodies, man, metas, _ = _run(tmp_path, [mode])
    rc = man["captions"]["pairs"]["p"]["report_captions"]
    assert len(bodies) == 2 * N  # captions.attempts = 2 per report, every answer rejected
    if mode == "hallucinate":  # each of the 4 hallucinated captions is rejected once per request
        expect_failures = len(HALLUCINATIONS) * len(bodies)
        assert set(rc["failure_reasons"]) <= {"unsupported", "contradicted", "novel_content"}
    else:  # the mock's invented identifiers plus up to 2 echoed placeholder lines of the report it saw
        reports = [_prompt_report(b).split("<report>")[1].split("</report>")[0] for b in bodies]
        per = [len(PHI_ECHO) + len([x for x in r.splitlines() if "[" in x][:2]) for r in reports]
        expect_failures = sum(per)
        assert rc["failure_reasons"] == {"phi": expect_failures}
    assert rc["llm_calls"] == len(bodies) and rc["fallbacks"] == N and rc["reports"] == N
    assert rc["validation_failures"] == sum(rc["failure_reasons"].values()) == expect_failures
    assert man["captions"]["pairs"]["p"]["report_fallbacks"] == N
    for i, row in enumerate(rows):  # the rule extractor's captions of the scrubbed report
        meta = metas[f"case{i}"]
        want = [lint(c)[0] for c in report_to_captions(row["report"], 3).captions]
        assert meta["captions"] == want and meta["caption_backend"] == "report:rules"


class _Echo:
    """An in-process LLM backend that answers like the mock's ``good`` mode and records the calling pid."""

    name, llm_id = "echo", "echo-1"

    def __init__(self):
        self.pids = []

    def complete(self, prompt: str, *, seed: int) -> str:
        self.pids.append(os.getpid())
        return json.dumps(good_captions(prompt, 5))


def test_llm_report_captioning_is_the_same_for_any_worker_count_and_runs_in_this_process():
    from data_pipelines.captions import CaptionConfig
    from data_pipelines.sources.pairs_text import TextStats, process_many

    jobs = [(_report(i % N).replace("Cough", f"Cough for {i} days"), "report") for i in range(520)]
    jobs += [(f"Chest film {i}, Dr. John Smith.", "caption") for i in range(10)]
    outs, stats = [], []
    for w in (1, 2):
        llm = _Echo()
        cap = ReportCaptioner(CaptionConfig(backend="openai", model="echo", concurrency=3), llm=llm)
        st = TextStats()
        outs.append(process_many(jobs, stats=st, workers=w, captioner=cap, n_report_captions=3))
        stats.append(st.as_dict())
        assert set(llm.pids) == {os.getpid()} and len(llm.pids) == 520
        assert cap.stats()["llm_calls"] == 520 == st.as_dict()["report_captions"]["llm_calls"]
    assert outs[0] == outs[1] and stats[0] == stats[1]
    assert stats[0]["texts"] == {"caption": 10, "report": 520}
    assert stats[0]["report_captions"]["fallbacks"] == 0


def test_llm_report_backend_without_captions_model_or_with_an_unknown_name_fails_validation(tmp_path):
    from medclip.config import ConfigError

    src = {"type": "pairs", "path": str(tmp_path / "r.csv"), "text_kind": "report", "report_backend": "openai"}
    with pytest.raises(ConfigError, match=r"sources\.p\.report_backend 'openai' needs captions\.model"):
        BuildConfig(sources={"p": src}).validate()
    with pytest.raises(ConfigError, match=r"sources\.p\.report_backend"):
        BuildConfig(sources={"p": {**src, "report_backend": "opnai"}}, captions={"model": "m"}).validate()
    BuildConfig(sources={"p": src}, captions={"model": "m", "base_url": "http://127.0.0.1:9/v1"}).validate()
