"""Data sources are a medclip.registry.Registry: a source type registered in one place is built by the builder."""

import io
import json
import tarfile
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

from data_pipelines.build import build
from data_pipelines.config import load_build_config
from data_pipelines.imageio import pixel_sha256
from data_pipelines.sources import SOURCE_TYPES, SOURCES, Item, Loaded, build_source, register_source
from data_pipelines.sources.demo import DemoSource, DemoSourceConfig
from medclip.config import ConfigError


@dataclass
class RampConfig:
    type: str = "ramp"
    n: int = 3  # images per label
    size: int = 24

    def validate(self) -> None:
        if self.n < 1:
            raise ValueError(f"ramp: n must be >= 1, got {self.n}")


def ramp(label_index: int, i: int, size: int) -> np.ndarray:
    """A distinct grayscale image per (label, index): a diagonal ramp with an offset."""
    y, x = np.mgrid[:size, :size]
    return ((x + y) * 3 + 40 * label_index + 7 * i).astype(np.uint8)


class RampSource:
    LABELS = ("normal", "pneumonia")

    def __init__(self, name, cfg, *, seed):
        self.name, self.cfg, self.seed = name, cfg, seed

    def items(self):
        return [
            Item(self.name, f"{lab}-{i}", "train", "xray", "chest", (lab,), ref=(k, i))
            for k, lab in enumerate(self.LABELS)
            for i in range(self.cfg.n)
        ]

    def load(self, item):
        k, i = item.ref
        return Loaded(pixels=ramp(k, i, self.cfg.size))


@pytest.fixture
def ramp_type():
    register_source("ramp", RampConfig)(RampSource)
    yield
    SOURCES.unregister("ramp")


def test_builtin_sources_register_themselves_and_the_old_view_agrees():
    assert {"demo", "folder", "csv", "dicom", "pydicom_data", "nifti"} <= set(SOURCES)
    assert SOURCES.get("demo") is DemoSource and SOURCES.meta("demo") == {"config": DemoSourceConfig}
    assert SOURCE_TYPES["demo"] == (DemoSourceConfig, DemoSource) and sorted(SOURCE_TYPES) == sorted(SOURCES)
    with pytest.raises(ValueError, match="already registered"):
        register_source("demo", DemoSourceConfig)(RampSource)


def test_registered_source_is_built_into_shards(ramp_type, tmp_path):
    cfg = load_build_config(None, ["sources={}", "sources.r.type=ramp", "sources.r.n=3", "image.format=png"])
    assert cfg.source_configs()["r"] == ("ramp", RampConfig(n=3))
    assert isinstance(build_source("r", "ramp", RampConfig(), seed=0), RampSource)
    report = build(cfg, out=tmp_path / "out", workers=1, progress=False, log=lambda *a: None)
    assert report.splits["train"]["samples"] == 6
    seen = {}
    for tar in sorted((tmp_path / "out" / "train").glob("*.tar")):
        with tarfile.open(tar) as tf:
            members: dict = {}
            for m in tf:
                key, _, ext = m.name.partition(".")
                members.setdefault(key, {})[ext] = tf.extractfile(m).read()
        for parts in members.values():
            meta = json.loads(parts["json"])
            seen[meta["source_id"]] = (meta, np.asarray(Image.open(io.BytesIO(parts["png"]))))
    assert sorted(seen) == [f"{lab}-{i}" for lab in ("normal", "pneumonia") for i in range(3)]
    for sid, (meta, pix) in seen.items():
        lab, i = sid.split("-")
        want = ramp(RampSource.LABELS.index(lab), int(i), 24)
        assert np.array_equal(pix, want) and meta["sha256"] == pixel_sha256(want)
        assert meta["labels"] == [lab] and meta["source"] == "r"


def test_unknown_source_type_suggests_close_names(ramp_type):
    with pytest.raises(ConfigError, match=r"sources\.r\.type: unknown data source 'rmap'\. Did you mean: ramp"):
        load_build_config(None, ["sources={}", "sources.r.type=rmap"]).validate()
    with pytest.raises(ValueError, match="unknown data source 'nope'"):
        build_source("r", "nope", RampConfig(), seed=0)
