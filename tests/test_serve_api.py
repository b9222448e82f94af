"""medclip-serve through FastAPI's test client: classify / embed / explain / models / health / metrics."""

import base64
import io
import json
import logging

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("pydicom")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402
from test_serve_fixtures import (  # noqa: E402
    MODALITY_CLASSES,
    PATIENT_ID,
    PATIENT_NAME,
    TEMPLATE,
    demo_checkpoint,
    demo_pixels,
    dicom_bytes,
    png_bytes,
)

from medclip.models.load import load_model  # noqa: E402
from medclip.serve.app import create_app  # noqa: E402
from medclip.serve.classes import get_class_set  # noqa: E402
from medclip.serve.config import ServeConfig  # noqa: E402
from medclip.serve.metrics import Histogram  # noqa: E402
from medclip.serve.runtime import ModelRuntime  # noqa: E402

NAMES = list(MODALITY_CLASSES.values())
TEMPERATURE = 2.5


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """The fitted demo checkpoint, copied beside a calibration file with a temperature for demo/demo."""
    folder = tmp_path_factory.mktemp("served")
    path = folder / "latest.pt"
    path.write_bytes(demo_checkpoint().read_bytes())
    cal = {"format": 1, "temperatures": {"demo/demo": {"temperature": TEMPERATURE, "fitted_on": "val"}}}
    (folder / "latest.pt.calibration.json").write_text(json.dumps(cal))
    return path


@pytest.fixture(scope="module")
def client(ckpt):
    cfg = ServeConfig(max_batch=4, max_wait_ms=20)
    rt = ModelRuntime.load(str(ckpt), cfg, model_id="demo")
    with TestClient(create_app([rt], cfg)) as c:
        yield c


@pytest.fixture(scope="module")
def reference(ckpt):
    """The same checkpoint loaded independently, for expected numbers."""
    model, pre, tok, _ = load_model(str(ckpt))
    return model.eval(), pre, tok


def _embed_image(reference, arr):
    model, pre, _ = reference
    with torch.no_grad():
        e = model.encode_image(pre(Image.fromarray(arr).convert("RGB"))[None])
    return torch.nn.functional.normalize(e, dim=-1)[0].double()


def _embed_texts(reference, texts):
    model, _, tok = reference
    with torch.no_grad():
        return torch.nn.functional.normalize(model.encode_text(tok(texts)), dim=-1).double()


def _classify(client, data, **fields):
    return client.post("/v1/classify", files={"file": ("upload.bin", data, "application/octet-stream")}, data=fields)


def test_typed_classes_right_on_held_out_demo_renders(client):
    """Test-split renders (the fit saw only train renders): the modality probe is right on >= 85%."""
    right = total = 0
    for k, mod in enumerate(MODALITY_CLASSES):
        for i in range(4):
            r = _classify(client, png_bytes(demo_pixels(mod, "test", i)), classes="\n".join(NAMES))
            assert r.status_code == 200, r.text
            right += r.json()["top_k"][0]["name"] == NAMES[k]
            total += 1
    assert right / total >= 0.85, (right, total)


def test_probabilities_match_independent_computation(client, reference):
    arr = demo_pixels("fundus", "test", 1)
    r = _classify(client, png_bytes(arr), classes=json.dumps(NAMES), top_k="2")
    body = r.json()
    img = _embed_image(reference, arr)
    txt = _embed_texts(reference, [TEMPLATE.replace("{}", n) for n in NAMES])
    expected = torch.softmax(reference[0].logit_scale.exp().detach().double() * (txt @ img), -1).numpy()
    got = np.array([c["probability"] for c in body["classes"]])
    assert [c["name"] for c in body["classes"]] == NAMES
    np.testing.assert_allclose(got, expected, atol=2e-5)
    assert [t["name"] for t in body["top_k"]] == [NAMES[i] for i in np.argsort(-expected)[:2]]
    assert body["calibration"]["calibrated"] is False and body["model"] == "demo"
    assert set(body["timing_ms"]) >= {"decode", "image", "text", "total"}
    assert body["image"] == {"format": "png", "size": [96, 96]}


def test_suite_class_set_uses_the_saved_temperature(client, reference):
    arr = demo_pixels("ct", "test", 0)
    body = _classify(client, png_bytes(arr), class_set="demo/demo").json()
    cs = get_class_set("demo/demo")
    assert [c["name"] for c in body["classes"]] == list(cs.names) and len(cs.names) == 17
    img = _embed_image(reference, arr)
    rows = [torch.nn.functional.normalize(_embed_texts(reference, list(p)).mean(0), dim=0) for p in cs.prompts]
    logits = reference[0].logit_scale.exp().detach().double() * (torch.stack(rows) @ img) / TEMPERATURE
    np.testing.assert_allclose([c["probability"] for c in body["classes"]], torch.softmax(logits, -1), atol=2e-5)
    assert body["calibration"] == {"calibrated": True, "temperature": TEMPERATURE, "fitted_for": "demo/demo"}


def test_modality_filter_keeps_that_modality_only(client):
    body = _classify(client, png_bytes(demo_pixels("xray")), class_set="demo/demo", modality="xray").json()
    assert [c["name"] for c in body["classes"]] == [n for n in get_class_set("demo/demo").names if "chest" in n]
    assert abs(sum(c["probability"] for c in body["classes"]) - 1) < 1e-9


def test_content_is_sniffed_not_the_name(client):
    """A DICOM named .png sent as image/jpeg is decoded as DICOM; a PNG named .dcm as PNG."""
    r = client.post("/v1/classify", files={"file": ("a.png", dicom_bytes(demo_pixels("xray")), "image/jpeg")},
                    data={"classes": "\n".join(NAMES)})  # fmt: skip
    assert r.json()["image"]["format"] == "dicom" and r.json()["top_k"][0]["name"] == "chest x-ray"
    r = client.post("/v1/classify", files={"file": ("a.dcm", png_bytes(demo_pixels("xray")), "application/dicom")},
                    data={"classes": "\n".join(NAMES)})  # fmt: skip
    assert r.json()["image"]["format"] == "png"


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF"])
def test_jpeg_and_tiff(client, fmt):
    buf = io.BytesIO()
    Image.fromarray(demo_pixels("pathology", "test", 0)).save(buf, format=fmt, quality=95)
    body = _classify(client, buf.getvalue(), classes="\n".join(NAMES)).json()
    assert body["image"]["format"] == fmt.lower() and body["top_k"][0]["name"] == "colon histology"


def test_raw_body_upload_with_query_fields(client):
    r = client.post("/v1/classify?classes=" + "%0A".join(n.replace(" ", "+") for n in NAMES),
                    content=png_bytes(demo_pixels("fundus")), headers={"content-type": "image/png"})  # fmt: skip
    assert r.status_code == 200 and r.json()["top_k"][0]["name"] == "retinal fundus photograph"


def test_dicom_decoded_with_window_and_patient_tags_never_returned(client, caplog):
    arr = demo_pixels("xray", "test", 0)
    with caplog.at_level(logging.DEBUG):
        r = _classify(client, dicom_bytes(arr), classes="\n".join(NAMES), return_image="1")
        r2 = client.post("/v1/explain", files={"file": ("p.dcm", dicom_bytes(arr))},
                         data={"classes": "\n".join(NAMES), "target": "chest x-ray", "return_image": "1"})  # fmt: skip
    body = r.json()
    assert body["image"] == {"format": "dicom", "size": [96, 96], "frames": 1, "modality": "xray", "window": "file"}
    assert body["top_k"][0]["name"] == "chest x-ray"
    for text in (r.text, r2.text, caplog.text, json.dumps(dict(r.headers)), json.dumps(dict(r2.headers))):
        for secret in ("Janet", "Secretname", PATIENT_ID, "Secret General", PATIENT_NAME):
            assert secret not in text
    # the preview is the decoded pixels (file window 2048/4096 on value*16 is the identity, up to rounding)
    prev = Image.open(io.BytesIO(base64.b64decode(body["preview_png"].split(",", 1)[1])))
    assert prev.size == (256, 256)
    small = np.asarray(prev.convert("L").resize((96, 96), Image.BILINEAR), dtype=np.float64)
    assert np.abs(small - arr).mean() < 6


def test_dicom_window_presets(client):
    arr = demo_pixels("xray", "test", 0)
    for window in ("minmax", "lung", "file"):
        body = _classify(client, dicom_bytes(arr), classes="\n".join(NAMES), window=window).json()
        assert body["image"]["window"] == window


def test_explain_differs_by_class_and_peaks_in_image(client, reference):
    from medclip.saliency import DEFAULT_METHOD, saliency_map

    arr = demo_pixels("ultrasound", "test", 0)
    maps = {}
    for target in NAMES[:2]:
        r = client.post("/v1/explain", files={"file": ("u.png", png_bytes(arr))},
                        data={"classes": "\n".join(NAMES), "target": target})  # fmt: skip
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["method"] == DEFAULT_METHOD and body["shape"] == [64, 64]
        heat = np.asarray(Image.open(io.BytesIO(base64.b64decode(body["heatmap_png"].split(",", 1)[1]))))
        assert heat.shape == (64, 64, 4)
        maps[target] = heat[..., 3].astype(np.float64)  # alpha = 0.25 + 0.75 * map
        model, pre, tok = reference
        x = pre(Image.fromarray(arr).convert("RGB"))[None]
        with torch.no_grad():  # the request's class set, one template: the contrast the server explains
            classes = F.normalize(model.encode_text(tok([TEMPLATE.replace("{}", n) for n in NAMES])).float(), dim=-1)
        ref = saliency_map(model, x, classes[NAMES.index(target)], classes=classes)
        np.testing.assert_allclose(maps[target], np.round((0.25 + 0.75 * ref) * 255), atol=1.01)
        assert list(np.unravel_index(int(np.argmax(ref)), ref.shape)) == body["peak"]
    assert np.abs(maps[NAMES[0]] - maps[NAMES[1]]).mean() > 1.0


def test_embed_text_and_image(client, reference):
    body = client.post("/v1/embed", json={"texts": ["brain mri", "chest x-ray"]}).json()
    np.testing.assert_allclose(body["embeddings"], _embed_texts(reference, ["brain mri", "chest x-ray"]), atol=1e-5)
    assert body["kind"] == "text" and body["dim"] == 64
    arr = demo_pixels("mri")
    body = client.post("/v1/embed", files={"file": ("m.png", png_bytes(arr))}).json()
    np.testing.assert_allclose(body["embeddings"][0], _embed_image(reference, arr), atol=1e-5)
    assert body["kind"] == "image"


def test_models_health_classsets(client):
    models = client.get("/v1/models").json()
    assert models["default"] == "demo"
    (m,) = models["models"]
    assert m == {"id": "demo", "name": "medclip-tiny", "embed_dim": 64, "image_size": 64,
                 "calibrated_class_sets": ["demo/demo"]}  # fmt: skip
    assert "latest.pt" not in json.dumps(models)  # the server's file paths are not returned
    assert client.get("/healthz").json() == {"status": "ok", "models": ["demo"]}
    sets = {c["id"]: c for c in client.get("/v1/classsets").json()["class_sets"]}
    assert "demo/demo" in sets and len(sets["demo/demo"]["classes"]) == 17
    page = client.get("/")
    assert page.status_code == 200 and '<script src="/static/app.js">' in page.text
    assert client.get("/static/app.js").headers["content-type"].startswith("text/javascript")


def test_text_classifier_cached_per_class_set(client):
    rt = client.app.state.models["demo"]
    calls = []
    orig = rt.encode_texts
    rt.encode_texts = lambda texts: calls.append(len(texts)) or orig(texts)
    try:
        for _ in range(3):
            _classify(client, png_bytes(demo_pixels("ct")), classes="alpha\nbeta\ngamma")
        _classify(client, png_bytes(demo_pixels("ct")), classes="alpha\nbeta")
    finally:
        rt.encode_texts = orig
    assert calls == [3, 2]


def test_metrics_prometheus_text(client):
    _classify(client, png_bytes(demo_pixels("ct")), classes="a\nb")
    _classify(client, b"", classes="a\nb")
    text = client.get("/metrics").text
    lines = text.splitlines()
    assert "# TYPE medclip_request_seconds histogram" in lines and "# TYPE medclip_batch_size histogram" in lines
    ok = [ln for ln in lines if ln.startswith('medclip_requests_total{route="/v1/classify",status="200"}')]
    assert ok and float(ok[0].split()[-1]) >= 1
    assert any(ln.startswith('medclip_errors_total{code="empty_body",route="/v1/classify"}') for ln in lines)
    # histogram buckets are cumulative and end in +Inf == _count
    buckets = [
        float(ln.split()[-1]) for ln in lines if ln.startswith('medclip_request_seconds_bucket{route="/v1/classify"')
    ]
    count = [
        float(ln.split()[-1]) for ln in lines if ln.startswith('medclip_request_seconds_count{route="/v1/classify"')
    ]
    assert buckets == sorted(buckets) and buckets[-1] == count[0]


def test_histogram_by_hand():
    h = Histogram("x", "help", (1, 2, 5))
    for v in (0.5, 1, 1.5, 7):
        h.observe(v)
    lines = h.render()
    assert lines[2:] == ['x_bucket{le="1"} 2', 'x_bucket{le="2"} 3', 'x_bucket{le="5"} 3', 'x_bucket{le="+Inf"} 4',
                         "x_sum 10", "x_count 4"]  # fmt: skip


def test_two_models_chosen_by_id(ckpt):
    import medclip

    cfg = ServeConfig()
    torch.manual_seed(1)
    other, pre, tok = medclip.create_model("medclip-tiny")
    rts = [ModelRuntime.load(str(ckpt), cfg, model_id="demo"), ModelRuntime("random", other, pre, tok, cfg)]
    with TestClient(create_app(rts, cfg)) as c:
        assert [m["id"] for m in c.get("/v1/models").json()["models"]] == ["demo", "random"]
        arr = demo_pixels("xray")
        a = _classify(c, png_bytes(arr), classes="\n".join(NAMES)).json()
        b = _classify(c, png_bytes(arr), classes="\n".join(NAMES), model="random").json()
        assert a["model"] == "demo" and b["model"] == "random"
        assert a["classes"] != b["classes"]  # a different model, different probabilities
    with pytest.raises(ValueError, match="unique"):
        create_app([rts[0], rts[0]], cfg)
