"""The shipped model configs are plain open_clip configs; open_clip_config() resolves the local text towers."""

import json
import subprocess
import sys
from pathlib import Path

import open_clip
import pytest

import medclip.models as mm
from medclip.models.registry import CONFIG_DIR, LOCAL_TEXT_TOWERS

ALLOWED_TOP = {"embed_dim", "vision_cfg", "text_cfg", "quick_gelu", "cast_dtype", "init_logit_scale", "custom_text"}
SHIPPED = sorted(CONFIG_DIR.glob("*.json"))

# open_clip only, in isolated mode (-I: no user site, no cwd on sys.path); it asserts medclip stays unimported.
_PLAIN = """
import json, sys
import open_clip, torch
open_clip.add_model_config(sys.argv[1])
name = sys.argv[2]
torch.manual_seed(0)
model = open_clip.create_model(name)
assert not any(m == "medclip" or m.startswith("medclip.") for m in sys.modules), "medclip was imported"
print(json.dumps({"params": sum(p.numel() for p in model.parameters())}))
"""


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_file_is_a_plain_open_clip_config(path):
    cfg = json.loads(path.read_text())
    assert set(cfg) <= ALLOWED_TOP, f"non-open_clip keys: {set(cfg) - ALLOWED_TOP}"
    assert "${" not in path.read_text()
    for value in (cfg["text_cfg"].get("hf_model_name"), cfg["text_cfg"].get("hf_tokenizer_name")):
        if value is not None:  # a hub id (owner/name), never a local path
            assert value.count("/") == 1 and not value.startswith(("/", ".")), value


def _plain_open_clip(config_path: Path, name: str) -> dict:
    r = subprocess.run(
        [sys.executable, "-I", "-c", _PLAIN, str(config_path), name], capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_plain_open_clip_builds_the_shipped_tiny_model():
    got = _plain_open_clip(CONFIG_DIR / "medclip-tiny.json", "medclip-tiny")
    model, _, _ = mm.create_model("medclip-tiny")
    assert got["params"] == sum(p.numel() for p in model.parameters())


def test_open_clip_config_writes_a_resolved_file_plain_open_clip_builds(tmp_path):
    cfg = mm.open_clip_config("medclip-small", out=tmp_path)
    written = json.loads((tmp_path / "medclip-small.json").read_text())
    assert written == cfg
    assert Path(cfg["text_cfg"]["hf_model_name"]) == mm.minilm_path()
    got = _plain_open_clip(tmp_path / "medclip-small.json", "medclip-small")
    model, _, _ = mm.create_model("medclip-small")
    assert got["params"] == sum(p.numel() for p in model.parameters())


def test_hub_ids_map_to_local_folders():
    assert LOCAL_TEXT_TOWERS["sentence-transformers/all-MiniLM-L6-v2"]() == mm.minilm_path()
    assert mm.get_model_config("medclip-tiny-hf")["text_cfg"]["hf_model_name"] == str(mm.tiny_bert_path())
    assert open_clip.get_model_config("medclip-small")["text_cfg"]["hf_model_name"] == str(mm.minilm_path())
    with pytest.raises(ValueError, match="unknown model 'medclip-smal'"):
        mm.open_clip_config("medclip-smal")
