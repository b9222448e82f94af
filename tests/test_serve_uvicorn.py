"""medclip-serve as a real uvicorn process on 127.0.0.1: HTTP end to end, concurrent batching, refusals."""

import json
import socket
import threading

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("pydicom")
httpx = pytest.importorskip("httpx")

from test_serve_fixtures import (  # noqa: E402
    MODALITY_CLASSES,
    PATIENT_ID,
    demo_pixels,
    dicom_bytes,
    png_bytes,
    png_header_bomb,
    shared_server,
)

NAMES = "\n".join(MODALITY_CLASSES.values())


@pytest.fixture(scope="module")
def server():
    return shared_server()  # --max-batch 8 --max-wait-ms 200 --max-upload-mb 2 --log-level debug


def _classify(url, data, **fields):
    return httpx.post(f"{url}/v1/classify", files={"file": ("u", data)}, data={"classes": NAMES, **fields}, timeout=60)


def test_end_to_end_over_http(server):
    assert httpx.get(f"{server.url}/healthz", timeout=10).json() == {"status": "ok", "models": ["demo"]}
    r = _classify(server.url, dicom_bytes(demo_pixels("xray")))
    assert r.status_code == 200 and r.json()["top_k"][0]["name"] == "chest x-ray"
    r = _classify(server.url, png_bytes(demo_pixels("fundus")))
    assert r.json()["top_k"][0]["name"] == "retinal fundus photograph"
    assert "text/html" in httpx.get(f"{server.url}/", timeout=10).headers["content-type"]


def test_concurrent_requests_are_batched(server):
    def batches():
        lines = httpx.get(f"{server.url}/metrics", timeout=10).text.splitlines()
        count = [float(x.split()[-1]) for x in lines if x.startswith("medclip_batch_size_count")]
        ones = [float(x.split()[-1]) for x in lines if x.startswith('medclip_batch_size_bucket{le="1"')]
        total = [float(x.split()[-1]) for x in lines if x.startswith("medclip_batch_size_sum")]
        return (count or [0])[0], (ones or [0])[0], (total or [0])[0]

    before = batches()
    data = png_bytes(demo_pixels("pathology"))
    results = [None] * 8
    start = threading.Barrier(8)

    def worker(i):
        start.wait()
        results[i] = _classify(server.url, data)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(r is not None and r.status_code == 200 for r in results)
    assert {r.json()["top_k"][0]["name"] for r in results} == {"colon histology"}
    after = batches()
    n_batches, n_images = after[0] - before[0], after[2] - before[2]
    assert n_images == 8
    assert n_batches < 8  # at least one model call served more than one request


def test_refusals_over_http_and_still_serving(server):
    bomb = _classify(server.url, png_header_bomb())
    assert bomb.status_code == 413 and bomb.json()["error"]["code"] == "too_many_pixels"
    dbomb = _classify(server.url, dicom_bytes(None, rows=65500, cols=65500))
    assert dbomb.status_code == 413
    bad = httpx.post(
        f"{server.url}/v1/embed", content=b"{nope", headers={"content-type": "application/json"}, timeout=10
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "malformed_json"
    # Content-Length above the 2 MB limit: answered 413 from the headers alone, the body is never sent
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                     b"Content-Length: 3145728\r\nConnection: close\r\n\r\n")  # fmt: skip
        reply = b""
        while b"}}" not in reply and len(reply) < 10_000:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413") and json.loads(body)["error"]["code"] == "upload_too_large"
    assert _classify(server.url, png_bytes(demo_pixels("xray"))).status_code == 200


def test_patient_tags_not_in_server_log(server):
    _classify(server.url, dicom_bytes(demo_pixels("xray")))
    _classify(server.url, dicom_bytes(None, pixels=False))
    log = server.log()
    assert "POST /v1/classify" in log  # the access log is on (debug level)
    for secret in ("Janet", "Secretname", PATIENT_ID, "Secret General"):
        assert secret not in log
