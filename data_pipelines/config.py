"""``BuildConfig``: every setting of the shard builder (YAML ``configs/data/*.yaml`` via ``medclip.config``).

The defaults are the demo build (``python -m data_pipelines build`` with no arguments). Sources are a
mapping ``name -> settings`` (the name prefixes every sample key), each validated against the config
dataclass of its ``type`` (see :data:`data_pipelines.sources.SOURCES`), so a typo in a source setting
fails with the closest valid keys, and ``sources.demo.train=100`` works as an override.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from medclip.config import ConfigError, apply_overrides, deep_merge, from_dict, read_yaml, to_dict

FORMAT_VERSION = "medclip-shards/1"
IMAGE_FORMATS = ("jpg", "png", "original")


@dataclass
class ShardConfig:
    """Shard sizes and names."""

    prefix: str = ""  # shard file prefix; "" = the split name (train-000000.tar)
    max_samples: int = 1000  # samples per shard
    max_bytes: int = 256 * 1024 * 1024  # bytes per shard (a shard is closed before it would exceed this)


@dataclass
class ImageConfig:
    """How images are stored."""

    format: str = "jpg"  # jpg | png | original (keep the source's jpg/png bytes when unchanged, else png)
    jpeg_quality: int = 90
    max_side: int = 512  # larger images are downscaled so that the longer side is max_side (0 = never)
    min_side: int = 20  # images whose shorter side is below this are skipped ("too_small")


@dataclass
class HygieneConfig:
    """Eval hygiene: images whose decoded-pixel sha256 is listed are never written to the given splits."""

    exclude: list[str] = field(default_factory=list)  # files: one sha256 per line ('#' comments), or JSON list
    apply_to: list[str] = field(default_factory=lambda: ["train", "val"])  # splits the exclusion applies to
    dedup: str = "source"  # source: one sample per decoded-pixel sha256 within each source | none
    near_dup: str = "none"  # across sources by perceptual hash: none | report (count only) | drop
    near_dup_threshold: int = 8  # Hamming distance (of 64 bits) that counts as a near-duplicate
    near_dup_exclude: bool = False  # also drop near-duplicates of the exclusion lists' images (phash lines)
    near_dup_priority: list[str] = field(default_factory=list)  # sources whose copy is kept first (then by name)


def _demo_sources() -> dict:
    return {"demo": {"type": "demo"}}


@dataclass
class BuildConfig:
    """A shard build: sources -> captions -> shuffled, sharded splits under ``out/<split>/``."""

    name: str = "demo"
    out: str = "data/shards/demo"  # output root; one folder per split
    seed: int = 0  # shuffle seed (and default seed of generated sources)
    splits: list[str] | None = None  # build only these splits (None = every split the sources yield)
    shards: ShardConfig = field(default_factory=ShardConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    hygiene: HygieneConfig = field(default_factory=HygieneConfig)
    captions: dict = field(default_factory=dict)  # data_pipelines.captions.CaptionConfig settings
    sources: dict = field(default_factory=_demo_sources)  # name -> {type: ..., settings of that type}
    mix: dict = field(default_factory=dict)  # source name -> {cap, weight, splits}; see data_pipelines.mixing

    def validate(self) -> None:
        if self.hygiene.dedup not in ("source", "none"):
            raise ConfigError(f"hygiene.dedup must be source or none, got {self.hygiene.dedup!r}")
        if self.hygiene.near_dup not in ("none", "report", "drop"):
            raise ConfigError(f"hygiene.near_dup must be none, report or drop, got {self.hygiene.near_dup!r}")
        if not 0 <= self.hygiene.near_dup_threshold <= 32:
            raise ConfigError("hygiene.near_dup_threshold must be in [0, 32]")
        if self.image.format not in IMAGE_FORMATS:
            raise ConfigError(f"image.format must be one of {IMAGE_FORMATS}, got {self.image.format!r}")
        if not 1 <= self.image.jpeg_quality <= 100:
            raise ConfigError(f"image.jpeg_quality must be in [1, 100], got {self.image.jpeg_quality}")
        if self.shards.max_samples < 1 or self.shards.max_bytes < 1024:
            raise ConfigError("shards.max_samples must be >= 1 and shards.max_bytes >= 1024")
        if not isinstance(self.sources, dict) or not self.sources:
            raise ConfigError("sources must be a non-empty mapping name -> {type: ..., ...}")
        sources = self.source_configs()
        ccfg = self.caption_config()
        for name, (_, scfg) in sources.items():  # pairs / demo_reports: an LLM report backend needs the captions
            rb = getattr(scfg, "report_backend", "rules")
            if rb not in ("rules", "knowledge"):
                from .captions.llm import caption_backends

                if rb not in caption_backends() or not caption_backends().meta(rb).get("llm", True):
                    raise ConfigError(f"sources.{name}.report_backend: {caption_backends().unknown_message(rb)}")
                if not ccfg.model:
                    raise ConfigError(f"sources.{name}.report_backend {rb!r} needs captions.model (the LLM to use)")
        from .mixing import mix_entries

        mix_entries(self)

    def source_configs(self) -> dict:
        """Typed source configs ``{name: (type, config)}`` of the enabled sources, in name order."""
        from .sources import SOURCES, check_source_name

        out = {}
        for name in sorted(self.sources):
            raw = dict(self.sources[name] or {})
            try:
                check_source_name(name)
            except ValueError as e:
                raise ConfigError(str(e)) from None
            typ = raw.get("type")
            if typ not in SOURCES:
                raise ConfigError(f"sources.{name}.type: {SOURCES.unknown_message(typ)}")
            enabled = raw.pop("enabled", True)
            if not isinstance(enabled, bool):
                raise ConfigError(f"sources.{name}.enabled: expected true/false, got {enabled!r}")
            cfg_cls = SOURCES.meta(typ)["config"]
            try:
                cfg = from_dict(cfg_cls, raw, f"sources.{name}")
            except ValueError as e:
                raise ConfigError(str(e) if isinstance(e, ConfigError) else f"sources.{name}: {e}") from None
            if enabled:
                out[name] = (typ, cfg)
        if not out:
            raise ConfigError("every source is disabled; enable at least one")
        return out

    def caption_config(self):
        """The typed :class:`data_pipelines.captions.CaptionConfig` (captions section)."""
        from .captions import CaptionConfig

        return from_dict(CaptionConfig, dict(self.captions), "captions")

    def resolved(self) -> dict:
        """Plain-dict config with every default made explicit (stored in each manifest)."""
        d = to_dict(self)
        d["captions"] = to_dict(self.caption_config())
        srcs = {}
        for name in sorted(self.sources):
            raw = dict(self.sources[name] or {})
            enabled = raw.pop("enabled", True)
            from .sources import SOURCES

            cfg = from_dict(SOURCES.meta(raw["type"])["config"], raw, f"sources.{name}")
            srcs[name] = {"enabled": enabled, **to_dict(cfg)}
        d["sources"] = srcs
        return d

    def content_hash(self) -> str:
        """sha256 of everything that determines shard content (the resolved config without ``out``)."""
        d = self.resolved()
        d.pop("out", None)
        d["captions"].pop("refresh", None)
        d["format_version"] = FORMAT_VERSION
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()


def load_build_config(paths: list[str] | str | None = None, overrides: list[str] | None = None) -> BuildConfig:
    """Layer YAML file(s) and ``key.sub=value`` overrides over the demo defaults.

    A YAML ``sources`` mapping replaces the default (demo) sources; overrides such as
    ``sources.demo.train=100`` are merged into whichever sources are in effect.
    """
    data: dict = {}
    for p in [paths] if isinstance(paths, str) else paths or []:
        data = deep_merge(data, read_yaml(p))
    if "sources" not in data:
        data["sources"] = _demo_sources()
    apply_overrides(data, overrides)
    return from_dict(BuildConfig, data)
