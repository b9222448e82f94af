"""The `openai` caption backend against a local OpenAI-compatible server that misbehaves on purpose."""

import hashlib
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from data_pipelines import captions
from data_pipelines.captions import CaptionConfig, CaptionConverter

PROMPT_FILE = Path(captions.__file__).parent / "prompts" / "label_to_caption_v1.txt"
KEY_ENV = "MEDCLIP_CAPTIONS_TEST_KEY"
SECRET = "sk-test-7f3a9c1e-DO-NOT-LEAK"

_FRAMES = [
    "{F} is present on this frontal study.",
    "Impression: {f} involving the right side.",
    "Findings compatible with {f}, moderate in extent.",
    "There is {f} in the left lower region of the image.",
    "Report conclusion: {f} without complication.",
    "The study demonstrates {f} with mild severity.",
    "Radiologic impression of {f} in the central area.",
    "Appearances are typical of {f} on this examination.",
    "Clear evidence of {f} at the periphery.",
    "The examination confirms {f}, bilateral and symmetric.",
    "Diagnostic features of {f} are seen in the upper zone.",
    "Study notable for {f}, stable in appearance.",
]
_NORMAL = [
    "Normal study without any abnormality on this radiograph.",
    "Unremarkable examination with clear lungs and normal heart size.",
    "No acute abnormality; the radiograph is within normal limits.",
    "Normal frontal radiograph with no pleural effusion or consolidation.",
    "The chest appears normal, with no focal abnormality identified.",
    "Healthy appearance of the thorax, no pathological findings.",
    "Impression: normal, no evidence of disease on this film.",
    "Clear lung fields and normal mediastinum; unremarkable study.",
    "Normal cardiac silhouette and lungs, negative for acute findings.",
    "No abnormalities are identified; normal examination of the chest.",
]


def good_answer(finding: str, n: int = 10) -> str:
    if finding == "normal":
        return json.dumps(_NORMAL[:n])
    caps = [t.replace("{F}", finding.capitalize()).replace("{f}", finding) for t in _FRAMES[:n]]
    return json.dumps(caps)


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):  # the client hung up on a "hang" answer
        pass


class LLMServer:
    """OpenAI-compatible chat endpoint. ``script[finding]`` lists behaviours consumed per request (the last
    one repeats): good | fenced | garbage | truncated | 500 | hang | normal_asserts | slow."""

    def __init__(self, script: dict[str, list[str]], hang_s: float = 1.5):
        self.script = script
        self.hang_s = hang_s
        self.calls: list[tuple[str, str]] = []
        self.auth: list[str | None] = []
        self.inflight = self.max_inflight = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # silence
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                assert self.path == "/v1/chat/completions"
                prompt = body["messages"][-1]["content"]
                finding = next((f for f in outer.script if f"Findings present in the image: {f}." in prompt), None)
                if finding is None and "The image is normal" in prompt:
                    finding = "normal"
                with outer.lock:
                    steps = outer.script[finding]
                    k = sum(1 for f, _ in outer.calls if f == finding)
                    step = steps[min(k, len(steps) - 1)]
                    outer.calls.append((finding, step))
                    outer.auth.append(self.headers.get("Authorization"))
                    outer.inflight += 1
                    outer.max_inflight = max(outer.max_inflight, outer.inflight)
                try:
                    self._answer(finding, step)
                finally:
                    with outer.lock:
                        outer.inflight -= 1

            def _answer(self, finding, step):
                if step == "500":
                    self.send_response(500)
                    self.end_headers()
                    return
                if step == "hang":
                    time.sleep(outer.hang_s)
                    step = "good"
                if step == "slow":
                    time.sleep(0.25)
                    step = "good"
                text = {
                    "good": lambda: good_answer(finding),
                    "fenced": lambda: "Sure! Here are the captions:\n```json\n" + good_answer(finding) + "\n```",
                    "garbage": lambda: "I am sorry, I cannot help with medical images today.",
                    "truncated": lambda: good_answer(finding)[:90],
                    "normal_asserts": lambda: json.dumps(
                        [f"Large pleural effusion number {i} on the normal looking radiograph." for i in range(10)]
                    ),
                }[step]()
                data = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server_factory():
    servers = []

    def make(script, **kw):
        s = LLMServer(script, **kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


def make_conv(server, tmp_path, monkeypatch, **over) -> CaptionConverter:
    monkeypatch.setenv(KEY_ENV, SECRET)
    cfg = dict(
        backend="openai", model="test-llm", base_url=server.url, api_key_env=KEY_ENV, timeout=0.5, retries=1,
        backoff=0.01, attempts=2, concurrency=4, cache=str(tmp_path / "bank.jsonl"),
    )  # fmt: skip
    cfg.update(over)
    return CaptionConverter(CaptionConfig(**cfg))


SCRIPT = {
    "pneumonia": ["good"],
    "pleural effusion": ["fenced"],
    "cardiomegaly": ["truncated", "good"],  # salvaged strings + second attempt
    "kidney stone": ["garbage"],  # never parseable -> fallback
    "liver lesion": ["500", "good"],  # transport retry succeeds
    "brain tumor": ["500"],  # all transport retries fail -> fallback
    "glaucoma": ["hang", "good"],  # timeout, then retried
    "normal": ["normal_asserts"],  # normal asserting a finding -> rejected -> fallback
}


def test_every_server_behaviour_ends_in_valid_captions_or_a_counted_fallback(
    server_factory, tmp_path, monkeypatch, caplog
):
    caplog.set_level(logging.DEBUG)
    srv = server_factory(SCRIPT)
    conv = make_conv(srv, tmp_path, monkeypatch)
    triples = [
        ("xray", "chest", ["pneumonia"]),
        ("xray", "chest", ["pleural effusion"]),
        ("xray", "chest", ["cardiomegaly"]),
        ("ct", "abdomen", ["kidney stone"]),
        ("ct", "abdomen", ["liver lesion"]),
        ("mri", "brain", ["brain tumor"]),
        ("fundus", "retina", ["glaucoma"]),
        ("xray", "chest", ["normal"]),
    ]
    t0 = time.time()
    banks = {b.labels[0]: b for b in conv.banks(triples)}
    assert time.time() - t0 < 15
    for lab in ("pneumonia", "pleural effusion", "cardiomegaly", "liver lesion", "glaucoma"):
        b = banks[lab]
        assert (b.backend, b.fallback, len(b.captions)) == ("openai", False, 10), (lab, b.fallback_reason)
        assert b.captions == json.loads(good_answer(lab)), lab  # the server's captions, in order, unchanged
        assert b.provenance["llm_id"] == "test-llm" and b.provenance["date"]
        assert b.provenance["prompt_id"] == "label_to_caption_v1"
        assert b.provenance["prompt_sha256"] == hashlib.sha256(PROMPT_FILE.read_bytes()).hexdigest()
    for lab, why in (
        ("kidney stone", "unparseable=2"),
        ("brain tumor", "llm_error: "),
        ("normal", "normal_asserts"),
    ):
        b = banks[lab]
        assert b.fallback and b.backend == "knowledge" and len(b.captions) == 10, lab
        assert why in b.fallback_reason, b.fallback_reason
    # server log: exact request counts (attempts=2, retries=1)
    per = {}
    for f, _ in srv.calls:
        per[f] = per.get(f, 0) + 1
    assert per == {
        "pneumonia": 1, "pleural effusion": 1, "cardiomegaly": 2, "kidney stone": 2, "liver lesion": 2,
        "brain tumor": 4, "glaucoma": 2, "normal": 2,
    }  # fmt: skip
    assert all(a == f"Bearer {SECRET}" for a in srv.auth)
    st = conv.stats()
    assert st["fallbacks"] == 3 and st["backends_used"] == {"knowledge": 3, "openai": 5}
    assert st["fallback_reasons"] == {"invalid": 2, "llm_error": 1}
    assert st["llm_errors"] == 2 and st["llm_calls"] == 10  # brain tumor: both attempts fail in transport
    assert st["rejected"]["unparseable"] == 2 and st["rejected"]["normal_asserts_finding"] == 20
    assert st["cache_misses"] == 8 and st["cache_hits"] == 0
    # the secret never reaches the cache, the logs or the manifest stats
    cache_text = (tmp_path / "bank.jsonl").read_text()
    assert SECRET not in cache_text and SECRET not in caplog.text and SECRET not in json.dumps(st)
    assert len(cache_text.splitlines()) == 8


def test_cache_makes_zero_calls_refresh_regenerates_offline_never_calls(server_factory, tmp_path, monkeypatch):
    srv = server_factory({"pneumonia": ["good"], "normal": ["good"]})
    triples = [("xray", "chest", ["pneumonia"]), ("xray", "chest", ["normal"])]
    first = make_conv(srv, tmp_path, monkeypatch).banks(triples)
    assert len(srv.calls) == 2 and not any(b.fallback for b in first)
    again = make_conv(srv, tmp_path, monkeypatch)
    second = again.banks(triples)
    assert len(srv.calls) == 2  # zero LLM calls on rebuild
    assert again.stats()["cache_hits"] == 2 and again.stats()["llm_calls"] == 0
    assert [b.captions for b in second] == [b.captions for b in first]
    assert [b.bank_id for b in second] == [b.bank_id for b in first] and all(b.cached for b in second)
    # a different parameter is a different key -> regenerated
    make_conv(srv, tmp_path, monkeypatch, temperature=0.2).banks(triples[:1])
    assert len(srv.calls) == 3
    make_conv(srv, tmp_path, monkeypatch, refresh=True).banks(triples)
    assert len(srv.calls) == 5
    off = make_conv(srv, tmp_path / "empty", monkeypatch, offline=True)
    b = off.bank("xray", "chest", ["pneumonia"])
    assert len(srv.calls) == 5 and b.fallback and b.fallback_reason.startswith("offline")
    cached_off = make_conv(srv, tmp_path, monkeypatch, offline=True).bank("xray", "chest", ["pneumonia"])
    assert cached_off.backend == "openai" and not cached_off.fallback and len(srv.calls) == 5


def test_concurrency_limit_is_respected(server_factory, tmp_path, monkeypatch):
    labels = ["pneumonia", "pleural effusion", "cardiomegaly", "kidney stone", "liver lesion", "glaucoma"]
    srv = server_factory({lab: ["slow"] for lab in labels})
    conv = make_conv(srv, tmp_path, monkeypatch, concurrency=3, cache="")
    banks = conv.banks([("other", "body", [lab]) for lab in labels])
    assert all(not b.fallback for b in banks)
    assert 2 <= srv.max_inflight <= 3


def test_no_server_at_base_url_stops_with_a_clear_error(tmp_path):
    import socket

    from data_pipelines.captions.llm import LLMConfigError

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = CaptionConfig(backend="openai", model="m", base_url=f"http://127.0.0.1:{port}/v1", retries=1, backoff=0.01)
    with pytest.raises(LLMConfigError, match="connection refused"):
        CaptionConverter(cfg).bank("xray", "chest", ["pneumonia"])


def test_auth_failure_stops_with_a_clear_error(tmp_path, monkeypatch):
    class Deny(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            self.send_response(401)
            self.end_headers()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Deny)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv(KEY_ENV, SECRET)
        cfg = CaptionConfig(
            backend="openai", model="m", base_url=f"http://127.0.0.1:{httpd.server_address[1]}/v1",
            api_key_env=KEY_ENV, retries=0,
        )  # fmt: skip
        from data_pipelines.captions.llm import LLMConfigError

        with pytest.raises(LLMConfigError, match="HTTP 401") as e:
            CaptionConverter(cfg).bank("xray", "chest", ["pneumonia"])
        assert SECRET not in str(e.value) and KEY_ENV in str(e.value)
    finally:
        httpd.shutdown()
        httpd.server_close()
