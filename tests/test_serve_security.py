"""medclip-serve's refusals: a corpus of bad requests, each the right 4xx JSON error; limits, key, CORS, disk."""

import json
import tempfile
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("pydicom")

from fastapi.testclient import TestClient  # noqa: E402
from test_serve_fixtures import (  # noqa: E402
    MODALITY_CLASSES,
    demo_checkpoint,
    demo_pixels,
    dicom_bytes,
    png_bytes,
    png_header_bomb,
)

import medclip.serve.app as serve_app  # noqa: E402
from medclip.serve.app import create_app  # noqa: E402
from medclip.serve.config import ServeConfig  # noqa: E402
from medclip.serve.runtime import ModelRuntime  # noqa: E402

NAMES = "\n".join(MODALITY_CLASSES.values())
LIMIT = 1_500_000  # bytes


@pytest.fixture(scope="module")
def runtime():
    return ModelRuntime.load(str(demo_checkpoint()), ServeConfig(), model_id="demo")


def _client(runtime, **cfg):
    cfg = ServeConfig(**{"max_upload_bytes": LIMIT, "max_classes": 100, **cfg})
    runtime.batcher = type(runtime.batcher)(
        runtime._encode_batch, max_batch=4, max_wait_s=0.0, executor=runtime.executor
    )  # fmt: skip  (fresh loop per client)
    return TestClient(create_app([runtime], cfg), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(runtime):
    with _client(runtime) as c:
        yield c


def _file(data, name="x.png", ctype="application/octet-stream"):
    return {"file": (name, data, ctype)}


PNG = png_bytes(demo_pixels("xray"))
DCM = dicom_bytes(demo_pixels("xray"))


def _big_png(n_bytes):
    import numpy as np

    rng = np.random.default_rng(0)
    side = int((n_bytes / 3) ** 0.5) + 8
    return png_bytes(rng.integers(0, 256, (side, side, 3), dtype=np.uint8))  # noise: PNG barely compresses it


# (name, method, path, kwargs, status, code)
C, F = "/v1/classify", {"classes": NAMES}
CORPUS = [
    ("empty multipart file", "post", C, {"files": _file(b""), "data": F}, 400, "empty_body"),
    ("empty raw body", "post", C + "?classes=a", {"content": b"", "headers": {"content-type": "image/png"}}, 400,
     "empty_body"),
    ("no file part", "post", C, {"data": F, "files": {"other": ("a", b"x")}}, 400, "bad_field"),
    ("text/plain body", "post", C, {"content": b"hello", "headers": {"content-type": "text/plain"}}, 415,
     "unsupported_media_type"),
    ("no content type", "post", C, {"content": b"hello"}, 415, "unsupported_media_type"),
    ("not an image", "post", C, {"files": _file(b"GIF89a" + b"\0" * 200), "data": F}, 415,
     "unsupported_format"),
    ("truncated PNG", "post", C, {"files": _file(PNG[: len(PNG) // 2]), "data": F}, 422,
     "unreadable_image"),
    ("truncated DICOM", "post", C, {"files": _file(DCM[: len(DCM) // 2]), "data": F}, 422,
     None),
    ("DICOM without pixels", "post", C,
     {"files": _file(dicom_bytes(None, pixels=False)), "data": F}, 422, "no_pixels"),
    ("PNG header bomb 65500^2", "post", C, {"files": _file(png_header_bomb()), "data": F},
     413, "too_many_pixels"),
    ("DICOM header bomb 65500^2", "post", C,
     {"files": _file(dicom_bytes(None, rows=65500, cols=65500)), "data": F}, 413, "too_many_pixels"),
    ("unknown class set", "post", C, {"files": _file(PNG), "data": {"class_set": "demo/nope"}}, 404,
     "unknown_class_set"),
    ("class set as a path", "post", C,
     {"files": _file(PNG), "data": {"class_set": "../../configs/eval/demo.yaml"}}, 404, "unknown_class_set"),
    ("model as a path", "post", C, {"files": _file(PNG), "data": {"classes": NAMES, "model": "/etc/passwd"}},
     404, "unknown_model"),
    ("huge class list", "post", C,
     {"files": _file(PNG), "data": {"classes": "\n".join(f"class {i}" for i in range(20000))}}, 413, "too_many_items"),
    ("huge class name", "post", C, {"files": _file(PNG), "data": {"classes": "x" * 5000}}, 422,
     "text_too_long"),
    ("malformed class JSON", "post", C, {"files": _file(PNG), "data": {"classes": '["a", '}}, 400,
     "malformed_json"),
    ("template without {}", "post", C, {"files": _file(PNG), "data": {"classes": NAMES, "templates": "x"}},
     422, "bad_template"),
    ("no classes", "post", C, {"files": _file(PNG)}, 422, "no_classes"),
    ("bad top_k", "post", C, {"files": _file(PNG), "data": {"classes": NAMES, "top_k": "99"}}, 422,
     "bad_field"),
    ("bad window", "post", C, {"files": _file(DCM), "data": {"classes": NAMES, "window": "x/../y"}}, 422,
     "bad_window"),
    ("malformed JSON", "post", "/v1/embed",
     {"content": b'{"texts": [', "headers": {"content-type": "application/json"}}, 400, "malformed_json"),
    ("JSON not an object", "post", "/v1/embed", {"json": ["a"]}, 422, "bad_json"),
    ("JSON texts not strings", "post", "/v1/embed", {"json": {"texts": [1, 2]}}, 422, "bad_field"),
    ("too many texts", "post", "/v1/embed", {"json": {"texts": ["a"] * 5000}}, 413, "too_many_items"),
    ("malformed multipart", "post", C,
     {"content": b"--zz\r\nbroken", "headers": {"content-type": "multipart/form-data; boundary=zz"}}, 422, "no_file"),
    ("explain without target", "post", "/v1/explain", {"files": _file(PNG), "data": F}, 422,
     "no_target"),
    ("explain target not a class", "post", "/v1/explain",
     {"files": _file(PNG), "data": {"classes": NAMES, "target": "liver"}}, 422, "unknown_target"),
    ("oversized upload", "post", C, {"files": _file(_big_png(2 * LIMIT)), "data": F}, 413,
     "upload_too_large"),
    ("oversized chunked upload", "post", C,
     {"content": iter([b"\x89PNG\r\n\x1a\n" + b"\0" * 500_000] * 4), "headers": {"content-type": "image/png"}}, 413,
     "upload_too_large"),
    ("GET on a POST route", "get", C, {}, 405, "method_not_allowed"),
    ("unknown route", "get", "/v1/../../etc/passwd", {}, 404, "not_found"),
    ("static traversal", "get", "/static/..%2fapp.py", {}, 404, "not_found"),
]  # fmt: skip


@pytest.mark.parametrize("name,method,path,kwargs,status,code", CORPUS, ids=[c[0] for c in CORPUS])
def test_bad_request_corpus(client, name, method, path, kwargs, status, code):
    r = getattr(client, method)(path, **kwargs)
    assert r.status_code == status, (name, r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    if code is not None:
        assert err["code"] == code
    assert err["message"] and "\n" not in err["message"] and "Traceback" not in r.text and len(err["message"]) < 300
    # the server keeps serving
    assert client.get("/healthz").status_code == 200
    ok = client.post("/v1/classify", files=_file(PNG), data={"classes": NAMES})
    assert ok.status_code == 200 and ok.json()["top_k"][0]["name"] == "chest x-ray"


def test_pixel_limit_checked_before_decoding(runtime, monkeypatch):
    """A normal-size image over a small pixel limit is refused from its header: the decoder never runs."""
    from PIL import ImageFile

    import medclip.imaging.dicom as dicom_mod

    calls = []
    monkeypatch.setattr(dicom_mod, "decode_frames", lambda *a, **k: calls.append("dicom"))
    orig = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: calls.append("pil") or orig(self))
    with _client(runtime, max_pixels=96 * 96 - 1) as c:
        for data in (PNG, DCM):
            r = c.post("/v1/classify", files=_file(data), data={"classes": NAMES})
            assert r.status_code == 413 and r.json()["error"]["code"] == "too_many_pixels"
    assert calls == []


def test_api_key_constant_time(runtime, monkeypatch):
    seen = []
    real = serve_app.hmac.compare_digest
    monkeypatch.setattr(serve_app.hmac, "compare_digest", lambda a, b: seen.append((a, b)) or real(a, b))
    with _client(runtime, api_key="s3cret-key") as c:
        assert c.get("/healthz").status_code == 200  # health stays open for probes
        for headers in ({}, {"X-API-Key": "wrong"}, {"X-API-Key": "s3cret-ke"}):
            r = c.post("/v1/classify", files=_file(PNG), data={"classes": NAMES}, headers=headers)
            assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        assert c.get("/metrics").status_code == 401
        r = c.post("/v1/classify", files=_file(PNG), data={"classes": NAMES}, headers={"X-API-Key": "s3cret-key"})
        assert r.status_code == 200
    assert seen[-1] == (b"s3cret-key", b"s3cret-key") and len(seen) == 5


def test_cors_off_by_default_and_opt_in(runtime):
    with _client(runtime) as c:
        r = c.get("/v1/models", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers
        pre = c.options(
            "/v1/classify", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
        )
        assert "access-control-allow-origin" not in pre.headers
    with _client(runtime, cors_origins=("https://lab.example",)) as c:
        r = c.get("/v1/models", headers={"Origin": "https://lab.example"})
        assert r.headers["access-control-allow-origin"] == "https://lab.example"
        r = c.get("/v1/models", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers


def test_nothing_of_an_upload_touches_disk(client, monkeypatch):
    """A 1.2 MB upload (above starlette's 1 MB spool default) stays in memory: no temporary file is made."""
    made = []
    for name in ("TemporaryFile", "NamedTemporaryFile", "mkstemp", "mkdtemp"):
        real = getattr(tempfile, name)
        monkeypatch.setattr(tempfile, name, lambda *a, _n=name, _r=real, **k: made.append(_n) or _r(*a, **k))
    real_roll = tempfile.SpooledTemporaryFile.rollover
    monkeypatch.setattr(
        tempfile.SpooledTemporaryFile, "rollover", lambda self: made.append("rollover") or real_roll(self)
    )
    big = _big_png(1_200_000)
    assert 1_050_000 < len(big) < LIMIT
    r = client.post("/v1/classify", files=_file(big), data={"classes": NAMES})
    assert r.status_code == 200, r.text[:200]
    assert made == []


def test_timeout_is_a_json_error_and_the_server_recovers(runtime, monkeypatch):
    real = runtime.classifier
    monkeypatch.setattr(runtime, "classifier", lambda prompts: time.sleep(1.0) or real(prompts))
    with _client(runtime, timeout_s=0.2) as c:
        r = c.post("/v1/classify", files=_file(PNG), data={"classes": NAMES})
        assert r.status_code == 504 and r.json()["error"]["code"] == "timeout"
        monkeypatch.setattr(runtime, "classifier", real)
        time.sleep(1.0)  # the stuck worker call finishes
        assert c.post("/v1/classify", files=_file(PNG), data={"classes": NAMES}).status_code == 200


def test_unexpected_failure_is_a_plain_500(runtime, monkeypatch):
    def boom(prompts):
        raise RuntimeError("/very/secret/path leaked?")

    monkeypatch.setattr(runtime, "classifier", boom)
    with _client(runtime) as c:
        r = c.post("/v1/classify", files=_file(PNG), data={"classes": NAMES})
        assert r.status_code == 500 and r.json() == {"error": {"code": "internal", "message": "internal server error"}}
        assert "secret" not in r.text and "Traceback" not in r.text
        assert json.loads(c.get("/healthz").text)["status"] == "ok"


def test_slow_upload_times_out_with_408(runtime):
    def trickle():
        yield PNG[:100]
        time.sleep(1.0)
        yield PNG[100:]

    with _client(runtime, timeout_s=0.3) as c:
        r = c.post("/v1/classify?classes=a", content=trickle(), headers={"content-type": "image/png"})
        assert r.status_code == 408 and r.json()["error"]["code"] == "timeout"
        assert c.get("/healthz").status_code == 200
