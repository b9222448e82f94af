"""Typed config: YAML layering, dotted overrides, fatal typos with suggestions, resolved config saved."""

from dataclasses import dataclass, field

import pytest
import yaml

from medclip.config import ConfigError, load_config, save_config, to_dict


@dataclass
class Optim:
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.98)
    warmup_steps: int = 10


@dataclass
class Data:
    train: str | None = None
    batch_size: int = 32
    sources: list[str] = field(default_factory=list)


@dataclass
class Root:
    name: str = "run"
    seed: int = 0
    bf16: bool = False
    optim: Optim = field(default_factory=Optim)
    data: Data = field(default_factory=Data)


def test_defaults_yaml_and_overrides_layer_in_order(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("optim: {lr: 0.01, warmup_steps: 5}\ndata: {batch_size: 8}\n")
    exp = tmp_path / "exp.yaml"
    exp.write_text("_base_: base.yaml\nname: exp\noptim: {lr: 5.0e-4}\n")
    cfg = load_config(Root, exp, ["data.batch_size=64", "bf16=true", "data.sources=[a, b]", "optim.betas=[0.9, 0.95]"])
    assert cfg.name == "exp"
    assert cfg.optim.lr == 5e-4 and cfg.optim.warmup_steps == 5
    assert cfg.data.batch_size == 64 and cfg.bf16 is True
    assert cfg.data.sources == ["a", "b"] and cfg.optim.betas == (0.9, 0.95)


@pytest.mark.parametrize(
    "override, message",
    [
        ("optim.lrr=1", r"unknown config key 'optim.lrr'. Did you mean: lr\?"),
        ("dta.batch_size=1", r"unknown config key 'dta'. Did you mean: data\?"),
        ("data.batch_size=abc", r"data.batch_size: expected an integer"),
        ("bf16=maybe", r"bf16: expected true/false"),
        ("seed", r"not of the form key.sub=value"),
    ],
)
def test_bad_keys_and_values_are_one_line_errors(override, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_config(Root, None, [override])
    assert "\n" not in str(info.value)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Root, tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim: [1, 2\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(Root, bad)


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(Root, None, ["optim.lr=0.3", "data.train=/x/{000..002}.tar"])
    save_config(cfg, tmp_path / "run" / "config.yaml")
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved == to_dict(cfg)
    again = load_config(Root, tmp_path / "run" / "config.yaml")
    assert again == cfg
