"""Reading a request: a size-bounded body, then multipart / JSON / raw image fields, all in memory."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from .errors import ApiError

RAW_TYPES = ("image/", "application/dicom", "application/octet-stream")


async def read_body(request, limit: int) -> bytes:
    """The whole body, refused with 413 as soon as it passes ``limit`` bytes (Content-Length checked first)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise ApiError(413, "upload_too_large", f"request body of {int(declared)} bytes exceeds {limit}")
        except ValueError:
            raise ApiError(400, "bad_content_length", "Content-Length is not a number") from None
    chunks, n = [], 0
    async for chunk in request.stream():
        n += len(chunk)
        if n > limit:
            raise ApiError(413, "upload_too_large", f"request body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def parse_fields(request, body: bytes, limit: int) -> tuple[dict[str, str], bytes | None, dict | None]:
    """``(fields, file_bytes, json_body)`` of a request.

    multipart/form-data: text fields + the part named ``file`` (kept in memory: the spool limit is set above
    the body limit, so nothing rolls over to a temporary file). application/json: the parsed object.
    ``image/*``, ``application/dicom``, ``application/octet-stream``: the body is the file; fields come
    from the query string. Anything else: 415.
    """
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    query = dict(parse_qsl(request.url.query, keep_blank_values=True))
    if ctype == "multipart/form-data":
        from starlette.datastructures import UploadFile
        from starlette.formparsers import MultiPartException, MultiPartParser

        async def stream():
            yield body
            yield b""

        parser = MultiPartParser(request.headers, stream(), max_files=1, max_fields=32, max_part_size=256 * 1024)
        parser.spool_max_size = limit + 1  # stay in memory: never a temporary file on disk
        try:
            form = await parser.parse()
        except MultiPartException as e:
            raise ApiError(400, "bad_multipart", f"malformed multipart body: {e.message}") from None
        except Exception as e:
            raise ApiError(400, "bad_multipart", f"malformed multipart body ({type(e).__name__})") from None
        fields, data = dict(query), None
        try:
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    if key != "file":
                        raise ApiError(400, "bad_field", f"file part must be named 'file', got {key[:40]!r}")
                    data = await value.read()
                    await value.close()
                else:
                    fields[key] = value
        finally:
            await form.close()
        return fields, data, None
    if ctype == "application/json":
        if not body:
            raise ApiError(400, "empty_body", "the JSON body is empty")
        try:
            obj = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise ApiError(400, "malformed_json", f"malformed JSON body: {type(e).__name__}") from None
        if not isinstance(obj, dict):
            raise ApiError(422, "bad_json", "the JSON body must be an object")
        return dict(query), None, obj
    if ctype.startswith(RAW_TYPES):
        return query, body, None
    shown = ctype[:60] or "none"
    raise ApiError(415, "unsupported_media_type", f"content type {shown!r}: send multipart/form-data, JSON or an image")


def text_list(value, what: str, *, max_items: int, max_chars: int) -> list[str]:
    """A list of strings from a JSON list, or a newline-separated form field; checked for size."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        s = value.strip()
        if s.startswith("["):
            try:
                value = json.loads(s)
            except ValueError:
                raise ApiError(400, "malformed_json", f"{what}: malformed JSON list") from None
        else:
            value = [line.strip() for line in s.splitlines()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(422, "bad_field", f"{what} must be a list of strings")
    value = [v.strip() for v in value if v.strip()]
    if len(value) > max_items:
        raise ApiError(413, "too_many_items", f"{len(value)} {what}, more than the limit of {max_items}")
    long = [v for v in value if len(v) > max_chars]
    if long:
        raise ApiError(422, "text_too_long", f"{what}: an entry has {len(long[0])} characters (limit {max_chars})")
    return value


def int_field(value, what: str, default: int, lo: int, hi: int) -> int:
    if value is None or value == "":
        return default
    try:
        v = int(value)
    except (TypeError, ValueError):
        raise ApiError(422, "bad_field", f"{what} must be an integer") from None
    if not lo <= v <= hi:
        raise ApiError(422, "bad_field", f"{what} must be between {lo} and {hi}")
    return v


def bool_field(value) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on") if value is not None else False
