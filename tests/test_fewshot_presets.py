"""Every few-shot method x preset resolves to the config pinned in tests/data/fewshot_resolved_configs.json."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "data"))
from dump_fewshot_resolved_configs import OUT, PRESETS, key, method_names, resolve  # noqa: E402

PINNED = json.loads(OUT.read_text())


def test_every_method_and_preset_is_pinned():
    assert set(PINNED) == {key(m, p) for m in method_names() for p in PRESETS}
    assert len(PINNED) == 12 * 4


@pytest.mark.parametrize("name", sorted(PINNED))
def test_resolved_config_unchanged(name):
    method, _, preset = name.partition("+")
    assert resolve(method, preset or None) == PINNED[name]


def test_preset_is_an_overlay_on_the_method_defaults(tmp_path):
    from medclip.config import ConfigError
    from medclip.fewshot.presets import preset_names, resolve

    assert preset_names() == ["biomedcoop", "demo", "original"]
    user = tmp_path / "mine.yaml"
    user.write_text("coop:\n  optim: {epochs: 3}\n")
    cfg, source = resolve("coop", str(user), ["optim.lr=0.5"])
    assert (cfg.optim.epochs, cfg.optim.lr, cfg.optim.batch_size) == (3, 0.5, PINNED["coop"]["optim"]["batch_size"])
    assert "coop.yaml" in source and "mine.yaml[coop]" in source
    assert resolve("kgcoop", str(user))[0].optim.epochs == PINNED["kgcoop"]["optim"]["epochs"]  # no section
    with pytest.raises(ConfigError, match="unknown preset 'demoo'"):
        resolve("coop", "demoo")
    user.write_text("cop:\n  feature_views: 2\n")
    with pytest.raises(ConfigError, match="Did you mean: coop"):
        resolve("coop", str(user))
    user.write_text("coop:\n  optim: {epoch: 2}\n")
    with pytest.raises(ConfigError, match="optim.epoch"):
        resolve("coop", str(user))


def test_library_use_from_another_folder(tmp_path):
    """``medclip.fewshot.presets.resolve`` alone (no CLI, fresh interpreter) finds the methods and shipped files."""
    import subprocess

    code = "from medclip.fewshot.presets import resolve; c, s = resolve('cocoop', 'demo'); print(c.test_per_class, s)"
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split()[0] == str(PINNED["cocoop+demo"]["test_per_class"])
    assert "presets/demo.yaml[cocoop]" in r.stdout
