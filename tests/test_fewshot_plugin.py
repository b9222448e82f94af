"""``medclip-fewshot`` through the real console script (subprocesses): the docs' plug-in example, model specs.

* the ``nearest_mean`` example of docs/fewshot.md ("Adding a method"), written to a folder as its two files,
  runs by name from its entry-point group and from ``--plugin``; with ``blend=0`` it is exactly the zero-shot
  classifier, so its accuracy must equal the zero-shot row's;
* ``--model`` takes a medclip checkpoint, ``NAME --pretrained FILE``, ``local-dir:`` and ``hf-hub:`` (one
  loader): all give the same numbers;
* ``--device cuda`` without a GPU is one line, no traceback.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from fewshot_fixtures import write_color_suite

import medclip

BIN = Path(sys.executable).parent
DOC = Path(__file__).resolve().parents[1] / "docs" / "fewshot.md"
ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "TQDM_DISABLE": "1"}
RUN = ["--shots", "1", "2", "--seeds", "1", "--device", "cpu", "--quiet"]


def _doc_blocks() -> tuple[str, str]:
    """The python and yaml blocks of the "Adding a method" section."""
    section = DOC.read_text().split("## Adding a method", 1)[1].split("\n## ", 1)[0]
    py = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    yml = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    return py, yml


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    root = tmp_path_factory.mktemp("fsplug")
    return write_color_suite(
        root, {"train": 3, "val": 2, "test": 4}, noise=40, size=32, templates=("a {} image.", "{}")
    )


def _sh(args, cwd, pythonpath=None) -> subprocess.CompletedProcess:
    env = {**os.environ, **ENV}
    if pythonpath:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [str(BIN / "medclip-fewshot"), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600
    )


def _plugin_folder(folder: Path, entry_point: bool) -> Path:
    py, yml = _doc_blocks()
    folder.mkdir()
    (folder / "nearest_mean.py").write_text(py)
    (folder / "nearest_mean.yaml").write_text(yml)
    if entry_point:  # what `pip install` of a package declaring the entry point leaves behind
        info = folder / "nearest_mean-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nearest-mean\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text("[medclip.fewshot_methods]\nnearest_mean = nearest_mean\n")
    return folder


def test_docs_plugin_example_runs_by_name(suite, tmp_path):
    folder = _plugin_folder(tmp_path / "ep", entry_point=True)
    out = tmp_path / "out"
    args = ["--method", "zeroshot", "nearest_mean", "--suite", str(suite), "--model", "medclip-tiny", *RUN]
    r = _sh([*args, "--out", str(out), "zs_prior=suite", "nearest_mean.blend=0.0"], tmp_path, folder)
    assert r.returncode == 0, r.stderr[-3000:]
    rep = json.loads((out / "fewshot.json").read_text())
    runs = rep["runs"]
    zs = [x for x in runs if x["method"] == "zeroshot"]
    nm = [x for x in runs if x["method"] == "nearest_mean"]
    assert len(zs) == 1 and [(x["k"], x["seed"]) for x in nm] == [(1, 1), (2, 1)]
    for x in nm:  # blend 0 + the suite prior = the zero-shot classifier itself
        assert x["accuracy"] == zs[0]["accuracy"] and x["info"] == {"blend": 0.0}
    resolved = rep["meta"]["configs"]["nearest_mean"]["resolved"]
    assert resolved["feature_views"] == 2 and resolved["nearest_mean"] == {"blend": 0.0}  # YAML, then override
    assert "nearest_mean.yaml" in rep["meta"]["configs"]["nearest_mean"]["path"]


def test_plugin_flag_and_listing(tmp_path):
    folder = _plugin_folder(tmp_path / "flag", entry_point=False)
    r = _sh(["--plugin", "nearest_mean", "--list-methods"], tmp_path, folder)
    assert r.returncode == 0, r.stderr[-2000:]
    names = [line.split()[0] for line in r.stdout.splitlines() if line.strip()]
    assert names[:3] == ["zeroshot", "nearest_mean", "clip_adapter"] and len(names) == 13  # cheapest first


def test_unknown_plugin_and_method_are_one_line():
    from zeroshot.fewshot.cli import cli

    with pytest.raises(SystemExit, match="cannot import plug-in 'no_such_module'"):
        cli(["--plugin", "no_such_module", "--list-methods"])
    with pytest.raises(SystemExit, match="unknown few-shot method 'nearest_man'.*Registered: zeroshot, coop"):
        cli(["--method", "nearest_man", "--model", "medclip-tiny", "--device", "cpu"])


@pytest.mark.parametrize("console", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_model_specs_share_one_loader(suite, tmp_path, console, monkeypatch):
    """In-process ``cli(argv)`` by default; through the console script under ``make test-slow``."""
    import huggingface_hub.constants

    from medclip.export import cli as export_cli

    torch.manual_seed(3)
    model, _, _ = medclip.create_model("medclip-tiny")
    sd = model.state_dict()
    torch.save({"epoch": 0, "step": 0, "name": "medclip-tiny", "state_dict": sd}, tmp_path / "ckpt.pt")
    torch.save(sd, tmp_path / "plain.pt")
    assert export_cli([str(tmp_path / "ckpt.pt"), str(tmp_path / "export")]) == 0
    snap = tmp_path / "hub" / "models--medclip-test--tiny" / "snapshots" / ("0" * 40)  # the upload, cached offline
    shutil.copytree(tmp_path / "export", snap)
    (snap.parents[1] / "refs").mkdir()
    (snap.parents[1] / "refs" / "main").write_text("0" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))  # subprocesses
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))  # in-process
    specs = {
        "checkpoint": ["--model", str(tmp_path / "ckpt.pt")],
        "name": ["--model", "medclip-tiny", "--pretrained", str(tmp_path / "plain.pt")],
        "local_dir": ["--model", f"local-dir:{tmp_path / 'export'}"],
        "hf_hub": ["--model", "hf-hub:medclip-test/tiny"],
    }
    acc = {}
    for key, spec in specs.items():
        out = tmp_path / key
        _run([*spec, "--method", "zeroshot", "--suite", str(suite), *RUN, "--out", str(out)], tmp_path, console)
        rep = json.loads((out / "fewshot.json").read_text())
        acc[key] = [x["accuracy"] for x in rep["runs"]]
        assert rep["meta"]["model_info"]["name"]
    assert acc["checkpoint"] == acc["name"] == acc["local_dir"] == acc["hf_hub"]
    bad = ["--model", "medclip-tiny", "--pretrained", str(tmp_path / "nope.pt"), "--method", "zeroshot"]
    with pytest.raises(SystemExit, match="medclip-fewshot: .*nope.pt"):
        _run([*bad, "--suite", str(suite), *RUN, "--out", str(tmp_path / "x")], tmp_path, console)


def _run(args, cwd, console: bool) -> None:
    """``medclip-fewshot args`` in a subprocess (``console``) or in-process; a failure raises SystemExit."""
    if console:
        r = _sh(args, cwd)
        if r.returncode:
            assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr[-3000:]
            raise SystemExit(r.stderr.strip())
        return
    from zeroshot.fewshot.cli import cli

    assert cli(args) == 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without a GPU")
def test_device_cuda_without_gpu_is_one_line(tmp_path):
    r = _sh(["--device", "cuda", "--list-methods"], tmp_path)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert (
        r.stderr.strip()
        == "medclip-fewshot: --device cuda: no CUDA GPU is available on this machine (use --device cpu)"
    )
