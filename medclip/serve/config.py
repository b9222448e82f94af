"""Settings of one serving process: limits, micro-batching, security (all keyword-only, validated)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ServeConfig:
    """Limits and switches of the service.

    Attributes:
        max_upload_bytes: largest request body accepted (413 above it).
        max_pixels: largest decoded image (rows x columns x frames), checked from the header before decoding.
        max_batch: most images encoded in one model call.
        max_wait_ms: how long the first queued image waits for company before its batch runs.
        timeout_s: wall-clock limit for one request's work (504 after it).
        max_classes: most class names in one request.
        max_templates: most templates in one request.
        max_text_chars: longest class name, template or embed text.
        max_texts: most texts in one embed request.
        api_key: when set, ``/v1/*`` and ``/metrics`` need header ``X-API-Key`` with this value.
        cors_origins: origins allowed by CORS; empty (the default) means no CORS headers at all.
        cache_size: text classifiers kept per model (least recently used dropped).
        display_size: side of the decoded preview image returned to the browser.
    """

    max_upload_bytes: int = 32 * 1024 * 1024
    max_pixels: int = 64 * 1024 * 1024
    max_batch: int = 16
    max_wait_ms: float = 5.0
    timeout_s: float = 60.0
    max_classes: int = 256
    max_templates: int = 64
    max_text_chars: int = 300
    max_texts: int = 256
    api_key: str | None = None
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    cache_size: int = 64
    display_size: int = 256

    def __post_init__(self):
        for name in ("max_upload_bytes", "max_pixels", "max_batch", "timeout_s", "max_classes", "max_templates"):
            if not getattr(self, name) > 0:
                raise ValueError(f"ServeConfig.{name} must be positive, got {getattr(self, name)!r}")
        if self.max_wait_ms < 0:
            raise ValueError(f"ServeConfig.max_wait_ms must be >= 0, got {self.max_wait_ms!r}")
