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
