"""A mock OpenAI-compatible chat-completions server for the report-caption tests and benchmark.

Bounded: it binds 127.0.0.1 on port 0 (a free port), serves from a daemon thread, every connection has a
socket timeout, and ``close()`` (or leaving the ``with`` block) shuts it down. It records every request body.

Behaviours (one per request, from ``script``; the last entry repeats):

* ``good``: captions copied from the FINDINGS / IMPRESSION sentences of the report in the prompt;
* ``hallucinate``: captions asserting findings the report never states, or the opposite of what it says;
* ``phi``: captions that echo the report's placeholders and invent identifiers (names, dates, institutions);
* ``garbage``: prose with no JSON list;
* ``error``: HTTP 500 (a transport failure the client retries).

    with MockLLMServer(["hallucinate", "good"]) as srv:
        cfg = CaptionConfig(backend="openai", model="mock", base_url=srv.base_url, api_key_env="")
        ...
        srv.bodies  # list[bytes], every request body received
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HALLUCINATIONS = [
    "There is a large right pneumothorax.",
    "Acute displaced fracture of the left clavicle.",
    "Dextrocardia with situs inversus totalis.",
    "Multiple metastases throughout both lungs.",
]
PHI_ECHO = [
    "Dr. John Smith reviewed this study of the chest.",
    "Study performed at Springfield General Hospital on 03/04/2021.",
    "Patient: [NAME], small right pleural effusion.",
]


def _report_of(prompt: str) -> str:
    m = re.search(r"<report>\s*(.*?)\s*</report>", prompt, re.S)
    return m.group(1) if m else ""


def good_captions(prompt: str, n: int = 5) -> list[str]:
    """Sentences of the FINDINGS / IMPRESSION sections of the prompt's report, without placeholders."""
    report = _report_of(prompt)
    body = "\n".join(re.findall(r"(?:FINDINGS|IMPRESSION):\s*(.*?)(?=\n[A-Z ]+:|\Z)", report, re.S)) or report
    sents = [s.strip() for s in re.split(r"(?<=\.)\s+|\n", body) if s.strip()]
    sents = [re.sub(r"^\d\.\s*", "", s) for s in sents if "[" not in s and len(s.split()) >= 2]
    sents = [s for s in sents if not re.search(r"(?i)compared|prior|signed|discussed|called", s)]
    return sents[:n]


class _Quiet(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # a client that hung up
        pass


class MockLLMServer:
    """OpenAI-compatible mock endpoint; see the module docstring.

    Args:
        script: Behaviour per request (the last one repeats).
        delay_s: Seconds each answer waits (to measure client concurrency).
        n: Captions per ``good`` answer.
    """

    def __init__(self, script=("good",), *, delay_s: float = 0.0, n: int = 5):
        self.script = list(script)
        self.delay_s, self.n = delay_s, n
        self.bodies: list[bytes] = []
        self.modes: list[str] = []
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        srv = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10  # socket timeout per connection

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with srv._lock:
                    srv.bodies.append(body)
                    mode = srv.script[min(len(srv.modes), len(srv.script) - 1)]
                    srv.modes.append(mode)
                    srv.in_flight += 1
                    srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
                try:
                    if srv.delay_s:
                        time.sleep(srv.delay_s)
                    if mode == "error":
                        self.send_response(500)
                        self.end_headers()
                        return
                    prompt = json.loads(body)["messages"][-1]["content"]
                    self._reply(srv.answer(mode, prompt))
                finally:
                    with srv._lock:
                        srv.in_flight -= 1

            def _reply(self, content: str):
                data = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = _Quiet(("127.0.0.1", 0), Handler)
        self.httpd.timeout = 10
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def answer(self, mode: str, prompt: str) -> str:
        """The answer text of one behaviour."""
        if mode == "good":
            return json.dumps(good_captions(prompt, self.n))
        if mode == "hallucinate":
            return json.dumps(HALLUCINATIONS)
        if mode == "phi":
            echo = [line.strip() for line in _report_of(prompt).splitlines() if "[" in line][:2]
            return json.dumps(PHI_ECHO + echo)
        if mode == "garbage":
            return "I am sorry, as an AI model I cannot produce captions. \x00\x01 ]]{{"
        raise ValueError(f"unknown mock behaviour {mode!r}")

    @property
    def requests(self) -> int:
        with self._lock:
            return len(self.bodies)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
