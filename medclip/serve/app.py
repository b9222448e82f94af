"""The FastAPI application: ``/v1/classify``, ``/v1/embed``, ``/v1/explain``, models, health, metrics, app.

Every refused request is a 4xx JSON ``{"error": {"code", "message"}}`` with a one-line message; an
unexpected failure is a 500 with a fixed message and no traceback. Uploads live in memory only.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import io
import logging
import time
from pathlib import Path

import numpy as np
import torch
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from PIL import Image
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..saliency import DEFAULT_METHOD as SALIENCY_METHOD  # class-contrastive: the request's classes are known
from .classes import DEFAULT_TEMPLATES, class_sets, expand, get_class_set
from .config import ServeConfig
from .errors import ApiError
from .images import WINDOWS, decode_upload
from .metrics import Metrics
from .requests import bool_field, int_field, parse_fields, read_body, text_list
from .runtime import ModelRuntime

log = logging.getLogger("medclip.serve")
STATIC = Path(__file__).with_name("static")
ROUTES = {"/v1/classify", "/v1/embed", "/v1/explain", "/v1/models", "/v1/classsets", "/healthz", "/metrics", "/"}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _png_data_url(img: Image.Image) -> str:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _preview(img: Image.Image, side: int) -> Image.Image:
    """The region the model sees (shortest side resized, centre crop), at ``side`` pixels."""
    w, h = img.size
    s = side / min(w, h)
    img = img.resize((max(side, round(w * s)), max(side, round(h * s))), Image.BICUBIC)
    w, h = img.size
    left, top = (w - side) // 2, (h - side) // 2
    return img.crop((left, top, left + side, top + side))


def heatmap_rgba(cam: np.ndarray) -> Image.Image:
    """A [0, 1] map as an RGBA image: blue -> red colour ramp, alpha growing with the value."""
    v = np.clip(np.nan_to_num(cam.astype(np.float64)), 0.0, 1.0)
    r = np.clip(1.5 - np.abs(4 * v - 3), 0, 1)
    g = np.clip(1.5 - np.abs(4 * v - 2), 0, 1)
    b = np.clip(1.5 - np.abs(4 * v - 1), 0, 1)
    a = 0.25 + 0.75 * v
    return Image.fromarray((np.stack([r, g, b, a], -1) * 255).round().astype(np.uint8), "RGBA")


def create_app(runtimes: list[ModelRuntime], config: ServeConfig | None = None) -> FastAPI:
    """The service over already loaded models (the first is the default).

    Args:
        runtimes: loaded models; ids must be unique.
        config: limits and security switches (defaults: :class:`ServeConfig`).
    """
    config = config or ServeConfig()
    if not runtimes:
        raise ValueError("create_app needs at least one model")
    models = {r.id: r for r in runtimes}
    if len(models) != len(runtimes):
        raise ValueError(f"model ids must be unique, got {[r.id for r in runtimes]}")
    metrics = Metrics()
    for r in runtimes:
        r.on_batch = lambda n, _id=r.id: metrics.batch.observe(n, model=_id)

    app = FastAPI(title="medclip-serve", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.config, app.state.models, app.state.metrics = config, models, metrics
    if config.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-API-Key"],
        )

    @app.middleware("http")
    async def _observe(request: Request, call_next):
        path = request.url.path
        route = path if path in ROUTES else ("/static" if path.startswith("/static/") else "other")
        t0 = time.perf_counter()
        needs_key = path.startswith("/v1/") or path == "/metrics"
        if config.api_key and needs_key and request.method != "OPTIONS":  # CORS preflights carry no key
            given = request.headers.get("x-api-key", "")
            if not hmac.compare_digest(given.encode(), config.api_key.encode()):
                response = _error(401, "unauthorized", "missing or wrong X-API-Key header")
                metrics.errors.inc(route=route, code="unauthorized")
                metrics.requests.inc(route=route, status="401")
                return response
        response = await call_next(request)
        metrics.latency.observe(time.perf_counter() - t0, route=route)
        metrics.requests.inc(route=route, status=str(response.status_code))
        return response

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        metrics.errors.inc(route=request.url.path if request.url.path in ROUTES else "other", code=exc.code)
        return _error(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        metrics.errors.inc(route="other", code="invalid_request")
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()))
        return _error(422, "invalid_request", f"invalid request: {where} {first.get('msg', '')}".strip())

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        metrics.errors.inc(route="other", code=code)
        message = "no such route" if exc.status_code == 404 else str(exc.detail)
        return _error(exc.status_code, code, message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.error("internal error on %s: %s", request.url.path, type(exc).__name__)
        metrics.errors.inc(route="other", code="internal")
        return _error(500, "internal", "internal server error")

    # --- helpers -----------------------------------------------------------------------------------
    def pick_model(fields: dict) -> ModelRuntime:
        key = fields.get("model") or runtimes[0].id
        if key not in models:
            raise ApiError(404, "unknown_model", f"unknown model {str(key)[:80]!r}; loaded: {', '.join(models)}")
        return models[key]

    async def bounded(coro, what: str):
        try:
            return await asyncio.wait_for(coro, config.timeout_s)
        except asyncio.TimeoutError:
            raise ApiError(
                504 if what == "work" else 408, "timeout", f"{what} took longer than {config.timeout_s:g}s"
            ) from None

    async def request_parts(request: Request):
        body = await bounded(read_body(request, config.max_upload_bytes), "reading the request")
        return await parse_fields(request, body, config.max_upload_bytes)

    def class_request(fields: dict):
        """(names, modalities, prompts, class_set key or None) of a classify / explain request."""
        key = fields.get("class_set") or (
            f"{fields['suite']}/{fields.get('dataset') or fields['suite']}" if fields.get("suite") else None
        )
        typed = text_list(
            fields.get("classes"), "classes", max_items=config.max_classes, max_chars=config.max_text_chars
        )
        templates = text_list(
            fields.get("templates"), "templates", max_items=config.max_templates, max_chars=config.max_text_chars
        )
        if any("{}" not in t for t in templates):
            raise ApiError(422, "bad_template", "every template needs a '{}' where the class name goes")
        modality = (fields.get("modality") or "").strip().lower()
        if typed:
            if key:
                raise ApiError(422, "ambiguous_classes", "give either class_set or classes, not both")
            prompts = [tuple(expand([n], templates or list(DEFAULT_TEMPLATES))) for n in typed]
            return typed, [modality or "other"] * len(typed), prompts, None
        if not key:
            raise ApiError(422, "no_classes", "give class_set (e.g. demo/demo) or classes (one name a line)")
        cs = get_class_set(key)
        keep = [i for i, m in enumerate(cs.modalities) if not modality or modality in ("any", "mixed") or m == modality]
        if not keep:
            mods = sorted(set(cs.modalities))
            raise ApiError(
                422, "no_classes", f"class set {cs.key} has no {modality} classes; modalities: {', '.join(mods)}"
            )
        if templates:
            names = [cs.names[i] for i in keep]
            prompts = [tuple(expand([n], templates)) for n in names]
        else:
            prompts = [cs.prompts[i] for i in keep]
        return [cs.names[i] for i in keep], [cs.modalities[i] for i in keep], prompts, cs.key

    def check_file(data: bytes | None) -> None:
        if data is None:
            raise ApiError(422, "no_file", "no image: send the file as multipart part 'file' or as the body")
        if not data:
            raise ApiError(400, "empty_body", "the upload is empty")

    async def image_tensor(rt: ModelRuntime, data: bytes | None, fields: dict):
        check_file(data)
        window = (fields.get("window") or "auto").strip()
        if window not in WINDOWS:
            raise ApiError(422, "bad_window", f"unknown window {window[:40]!r}; choose from {', '.join(WINDOWS)}")
        loop = asyncio.get_running_loop()
        decoded = await loop.run_in_executor(
            None, lambda: decode_upload(data, max_pixels=config.max_pixels, window=window)
        )
        x = await loop.run_in_executor(None, rt.to_tensor, decoded.image)
        return decoded, x

    # --- routes ------------------------------------------------------------------------------------
    @app.get("/healthz")
    async def healthz():
        return {"status": "ok", "models": list(models)}

    @app.get("/metrics")
    async def metrics_text():
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models")
    async def list_models():
        return {"models": [r.public() for r in runtimes], "default": runtimes[0].id}

    @app.get("/v1/classsets")
    async def list_class_sets():
        return {"class_sets": [cs.public() for cs in class_sets().values()], "windows": list(WINDOWS)}

    async def _classify(parts, t0: float):
        fields, data, obj = parts
        if obj is not None:
            raise ApiError(415, "unsupported_media_type", "classify needs an image: multipart/form-data or a raw body")
        rt = pick_model(fields)
        check_file(data)
        names, mods, prompts, key = class_request(fields)
        top_k = int_field(fields.get("top_k"), "top_k", min(5, len(names)), 1, len(names))
        t1 = time.perf_counter()
        decoded, x = await image_tensor(rt, data, fields)
        t2 = time.perf_counter()
        loop = asyncio.get_running_loop()
        w = await loop.run_in_executor(rt.executor, rt.classifier, tuple(prompts))
        t3 = time.perf_counter()
        emb = await rt.batcher.submit(x)
        t4 = time.perf_counter()
        logits = rt.logit_scale() * (emb @ w.T)
        temp = rt.temperatures.get(key) if key else None
        if temp:
            logits = logits / temp
            calibration = {"calibrated": True, "temperature": temp, "fitted_for": key}
        else:
            why = "no temperature saved for this class set" if key else "free class names have no saved temperature"
            calibration = {"calibrated": False, "temperature": 1.0, "reason": why}
        probs = torch.softmax(logits.double(), -1).tolist()
        order = sorted(range(len(names)), key=lambda i: -probs[i])
        out = {
            "model": rt.id,
            "class_set": key,
            "classes": [{"name": n, "modality": m, "probability": p} for n, m, p in zip(names, mods, probs)],
            "top_k": [{"name": names[i], "probability": probs[i], "rank": r + 1} for r, i in enumerate(order[:top_k])],
            "calibration": calibration,
            "image": {"format": decoded.format, **decoded.info},
        }
        if bool_field(fields.get("return_image")):
            out["preview_png"] = _png_data_url(_preview(decoded.image, config.display_size))
        out["timing_ms"] = {
            "parse": round((t1 - t0) * 1e3, 3),
            "decode": round((t2 - t1) * 1e3, 3),
            "text": round((t3 - t2) * 1e3, 3),
            "image": round((t4 - t3) * 1e3, 3),
            "total": round((time.perf_counter() - t0) * 1e3, 3),
        }
        return out

    @app.post("/v1/classify")
    async def classify(request: Request):
        t0 = time.perf_counter()
        return await bounded(_classify(await request_parts(request), t0), "work")

    async def _embed(parts, t0: float):
        fields, data, obj = parts
        if obj is not None:  # JSON body: texts only
            fields = {**fields, **{k: v for k, v in obj.items() if k in ("model",)}}
            raw_texts = obj.get("texts", obj.get("text"))
        else:  # form fields: texts when given, else the uploaded image
            raw_texts = fields.get("texts") or fields.get("text")
        rt = pick_model(fields)
        if obj is not None or raw_texts:
            texts = text_list(raw_texts, "texts", max_items=config.max_texts, max_chars=config.max_text_chars)
            if not texts:
                raise ApiError(422, "no_texts", "give 'texts': a list of strings")
            emb = await asyncio.get_running_loop().run_in_executor(rt.executor, rt.encode_texts, texts)
            kind = "text"
        else:
            _, x = await image_tensor(rt, data, fields)
            emb = (await rt.batcher.submit(x))[None]
            kind = "image"
        return {
            "model": rt.id,
            "kind": kind,
            "dim": int(emb.shape[-1]),
            "normalized": True,
            "embeddings": emb.tolist(),
            "timing_ms": {"total": round((time.perf_counter() - t0) * 1e3, 3)},
        }

    @app.post("/v1/embed")
    async def embed(request: Request):
        t0 = time.perf_counter()
        return await bounded(_embed(await request_parts(request), t0), "work")

    async def _explain(parts, t0: float):
        fields, data, obj = parts
        if obj is not None:
            raise ApiError(415, "unsupported_media_type", "explain needs an image: multipart/form-data or a raw body")
        rt = pick_model(fields)
        check_file(data)
        names, _, prompts, key = class_request(fields)
        target = (fields.get("target") or fields.get("class_name") or "").strip()
        if not target:
            raise ApiError(422, "no_target", "give target: the class name to explain")
        if target not in names:
            raise ApiError(422, "unknown_target", f"target {target[:80]!r} is not one of the request's classes")
        decoded, x = await image_tensor(rt, data, fields)
        loop = asyncio.get_running_loop()
        w = await loop.run_in_executor(rt.executor, rt.classifier, tuple(prompts))
        try:
            cam = await loop.run_in_executor(rt.executor, rt.saliency, x, w[names.index(target)], w, SALIENCY_METHOD)
        except ValueError as e:  # e.g. an image tower the saliency method does not support
            raise ApiError(422, "saliency_unavailable", f"no saliency map for this model: {e}") from None
        out = {
            "model": rt.id,
            "class_set": key,
            "target": target,
            "method": SALIENCY_METHOD,
            "shape": list(cam.shape),
            "heatmap_png": _png_data_url(heatmap_rgba(cam)),
            "peak": [int(v) for v in np.unravel_index(int(np.argmax(cam)), cam.shape)],
            "image": {"format": decoded.format, **decoded.info},
        }
        if bool_field(fields.get("return_image")):
            out["preview_png"] = _png_data_url(_preview(decoded.image, config.display_size))
        out["timing_ms"] = {"total": round((time.perf_counter() - t0) * 1e3, 3)}
        return out

    @app.post("/v1/explain")
    async def explain(request: Request):
        t0 = time.perf_counter()
        return await bounded(_explain(await request_parts(request), t0), "work")

    @app.get("/")
    async def index():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/static/{name}")
    async def static(name: str):
        files = {p.name: p for p in STATIC.iterdir() if p.is_file()}
        if name not in files:  # a fixed list: no client-chosen path ever reaches the file system
            raise ApiError(404, "not_found", "no such file")
        kind = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}.get(files[name].suffix)
        return FileResponse(files[name], media_type=kind)

    return app
