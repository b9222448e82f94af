"""Plug-ins through the real console scripts (subprocesses): a merge method and a caption backend, each one
new file declared in its entry-point group, are run by name; ``medclip-merge`` takes open_clip-style specs."""

import json
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest
import torch
from merge_fixtures import write_split, write_suite

import medclip
from medclip.export import cli as export_cli
from medclip.zeroshot_head import build_text_classifier
from zeroshot.merging import cli as merge_cli
from zeroshot.merging.data import load_images, modality_view
from zeroshot.suites import load_suite

BIN = Path(sys.executable).parent
TINY = ["--quiet", "expert_modality=xray", "corruptions=[]", "novel_max_samples=4", "threads=1"]


def write_plugin(folder: Path, module: str, source: str, group: str, name: str, obj: str) -> dict:
    """One plug-in file plus the ``.dist-info`` an installed package would have; returns the subprocess env."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{module}.py").write_text(textwrap.dedent(source))
    info = folder / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{name} = {module}:{obj}\n")
    return {**os.environ, "PYTHONPATH": str(folder), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false", "TQDM_DISABLE": "1"}  # fmt: skip


def _sh(cmd, args, env, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / cmd), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def merge_setup(tmp_path_factory):
    """A 4-class suite (test split only), a base and a visually fine-tuned expert checkpoint."""
    root = tmp_path_factory.mktemp("plugin_merge")
    write_split(root / "shards" / "test", 3, 2)
    suite = write_suite(root)
    torch.manual_seed(0)
    model, _, _ = medclip.create_model("medclip-tiny")
    base_sd = {k: v.clone() for k, v in model.state_dict().items()}
    gen = torch.Generator().manual_seed(1)
    expert_sd = {
        k: v + 0.3 * torch.randn(v.shape, generator=gen) if k.startswith("visual.") and v.is_floating_point() else v
        for k, v in base_sd.items()
    }
    for name, sd in (("base", base_sd), ("expert", expert_sd)):
        torch.save({"epoch": 0, "step": 0, "name": "medclip-tiny", "state_dict": sd}, root / f"{name}.pt")
    return root, suite


def _top1(suite: Path, state_dict: dict) -> float:
    """Independent: top-1 of a medclip-tiny with ``state_dict`` on the in-domain (xray) view."""
    model, pre, tok = medclip.create_model("medclip-tiny")
    model.load_state_dict(state_dict)
    s = load_suite(str(suite))
    view = modality_view(s, s.datasets[0], "xray")
    with torch.no_grad():
        f = model.encode_image(load_images(view, pre), normalize=True)
        pred = (f @ build_text_classifier(model, tok, view.prompts).T).argmax(-1).numpy()
    return float((pred == view.items.labels).mean())


PLUGIN = '''
    """A throwaway merge method: one file, declared in the medclip.merge_methods entry-point group."""
    from dataclasses import dataclass

    from medclip.merge.registry import register_merge_method


    @dataclass
    class ThrowawayConfig:
        w: float = 0.5  # weight on the base


    @register_merge_method("throwaway", kind="static", config=ThrowawayConfig)
    def throwaway(ctx, cfg):
        """``lerp(theta_e, theta_b, w)``."""
        return ctx.pair.merged_state_dict(cfg.w)
'''


def test_merge_method_plugin_runs_through_medclip_merge(merge_setup, tmp_path):
    root, suite = merge_setup
    env = write_plugin(tmp_path / "plug", "throwaway_merge", PLUGIN, "medclip.merge_methods", "throwaway", "throwaway")
    out = tmp_path / "report"
    args = ["--base", str(root / "base.pt"), "--expert", str(root / "expert.pt"), "--suite", str(suite),
            "--out", str(out), *TINY, "merge.methods=[base,expert,throwaway]",
            "merge.params.throwaway.w=0.25"]  # fmt: skip
    r = _sh("medclip-merge", args, env, tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    rep = json.loads((out / "report.json").read_text())
    assert list(rep["table"]) == ["base", "expert", "throwaway"]
    assert rep["settings"]["in_domain"]["methods"]["throwaway"]["kind"] == "static"
    assert rep["config"]["merge"]["params"]["throwaway"] == {"w": 0.25}
    b = torch.load(root / "base.pt", weights_only=True)["state_dict"]
    e = torch.load(root / "expert.pt", weights_only=True)["state_dict"]
    merged = {k: torch.lerp(e[k], b[k], 0.25) if e[k].is_floating_point() else e[k] for k in b}
    assert rep["table"]["throwaway"]["in_domain_top1"] == pytest.approx(_top1(suite, merged))


def test_entry_point_plugins_load_on_first_lookup(tmp_path, monkeypatch, capsys):
    """In-process: the entry point is imported when its name is first asked for; typos stay fatal."""
    from medclip.merge.config import MergeConfig
    from medclip.merge.registry import MERGE_METHODS

    plug = tmp_path / "plug"
    write_plugin(plug, "throwaway_merge2", PLUGIN.replace('"throwaway"', '"throwaway2"'), "medclip.merge_methods",
                 "throwaway2", "throwaway")  # fmt: skip
    with pytest.raises(ValueError, match=r"unknown merge method 'throwaway2'"):
        MERGE_METHODS.get("throwaway2")
    monkeypatch.syspath_prepend(str(plug))
    try:
        assert "throwaway2" in MERGE_METHODS.plugin_names() and "throwaway2" not in MERGE_METHODS.names()
        cfg = MergeConfig(methods=["throwaway2"], params={"throwaway2": {"w": 0.1}})  # loads it
        assert MERGE_METHODS.meta("throwaway2")["kind"] == "static" and cfg.method_config("throwaway2").w == 0.1
        assert "throwaway2       static     params.throwaway2: {'w': 0.1}" not in merge_cli.list_methods()
        assert "throwaway2       static     params.throwaway2: {'w': 0.5}" in merge_cli.list_methods()
        with pytest.raises(SystemExit):
            merge_cli.run(["--base", "b.pt", "--expert", "e.pt", "--out", str(tmp_path / "o"),
                           "merge.params.throwaway2.ww=1"])  # fmt: skip
        assert "unknown config key 'merge.params.throwaway2.ww'. Did you mean: w" in capsys.readouterr().err
    finally:
        MERGE_METHODS.unregister("throwaway2")
        sys.modules.pop("throwaway_merge2", None)


def _hub_cache(root: Path, repo_id: str, folder: Path) -> Path:
    """A Hugging Face hub cache holding ``folder``'s files as the ``main`` revision of ``repo_id``."""
    commit = "0" * 40
    repo = root / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(folder, repo / "snapshots" / commit)
    return root


def test_medclip_merge_accepts_open_clip_specs(merge_setup, tmp_path, capsys):
    """``--model NAME --pretrained FILE``, ``hf-hub:`` and ``local-dir:`` specs give the same report numbers as
    the two medclip checkpoints."""
    root, suite = merge_setup
    methods = "merge.methods=[base,expert,weight_avg,t3,t3_b,dawin]"
    plain = tmp_path / "open_clip_state_dict.pt"
    torch.save(torch.load(root / "base.pt", weights_only=True)["state_dict"], plain)
    for name in ("base", "expert"):
        assert export_cli([str(root / f"{name}.pt"), str(tmp_path / f"{name}_export")]) == 0
    hub = _hub_cache(tmp_path / "hub", "medclip-test/expert", tmp_path / "expert_export")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TQDM_DISABLE": "1",
           "HF_HUB_CACHE": str(hub)}  # fmt: skip
    common = ["--suite", str(suite), *TINY, methods]
    ref = merge_cli.run(["--base", str(root / "base.pt"), "--expert", str(root / "expert.pt"), "--out",
                         str(tmp_path / "checkpoints"), *common])  # fmt: skip
    # the console script: an open_clip name with a plain state dict, and an expert uploaded to the hub
    spec = ["--model", "medclip-tiny", "--pretrained", str(plain), "--expert", "hf-hub:medclip-test/expert"]
    r = _sh("medclip-merge", [*spec, "--out", str(tmp_path / "specs"), *common], env, tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads((tmp_path / "specs" / "report.json").read_text())
    assert got["base"] == f"medclip-tiny@{plain}" and got["architecture"] == "medclip-tiny"
    # in-process: exported folders
    dirs = [f"local-dir:{tmp_path / 'base_export'}", f"local-dir:{tmp_path / 'expert_export'}"]
    folders = merge_cli.run(["--base", dirs[0], "--expert", dirs[1], "--out", str(tmp_path / "dirs"), *common])
    for rep in (got, folders):
        assert list(rep["table"]) == list(ref["table"])
        for name in ref["table"]:
            for k in ("in_domain_top1", "novel_top1", "lambda_mean", "rebuilds"):
                assert rep["table"][name][k] == ref["table"][name][k], (name, k)
    b_sd = torch.load(root / "base.pt", weights_only=True)["state_dict"]
    assert got["table"]["base"]["in_domain_top1"] == pytest.approx(_top1(suite, b_sd))
    # weights that do not exist: one line, exit 2
    with pytest.raises(SystemExit) as e:
        merge_cli.run(["--model", "medclip-tiny", "--pretrained", str(tmp_path / "nope.pt"), "--expert",
                       str(root / "expert.pt"), "--out", str(tmp_path / "x"), *TINY])  # fmt: skip
    assert e.value.code == 2 and "pretrained checkpoint not found" in capsys.readouterr().err


BACKEND = '''
    """A throwaway caption backend: one file, declared in the medclip.caption_backends entry-point group."""
    import json
    import re


    class EchoBackend:
        name = "echo"

        def __init__(self, model):
            self.llm_id = f"echo:{model}"

        @classmethod
        def from_config(cls, cfg):
            return cls(cfg.model)

        def complete(self, prompt, *, seed):
            m = re.search(r"Findings present in the image: (.+)\\.", prompt)
            if m:
                return json.dumps([f"Echo radiograph {i} shows {m.group(1)} in the lung." for i in range(8)])
            return json.dumps([f"Echo radiograph {i} is normal, no abnormality." for i in range(8)])
'''


def test_caption_backend_plugin_runs_through_medclip_shards(tmp_path):
    env = write_plugin(tmp_path / "plug", "echo_backend", BACKEND, "medclip.caption_backends", "echo", "EchoBackend")
    args = ["build", "--out", "shards", "--workers", "1", "--no-progress",
            "sources.demo.classes=[xray/normal, xray/pneumonia]", "sources.demo.train=2", "sources.demo.val=0",
            "sources.demo.test=0", "sources.demo.test_shifted=0", "captions.backend=echo", "captions.model=m1",
            "captions.n_captions=3", "captions.attempts=1"]  # fmt: skip
    r = _sh("medclip-shards", args, env, tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    man = json.loads((tmp_path / "shards" / "train" / "manifest.json").read_text())
    assert man["captions"]["backends_used"] == {"echo": 2}, man["captions"]
    seen = {}
    for tar in (tmp_path / "shards" / "train").glob("*.tar"):
        with tarfile.open(tar) as tf:
            for m in tf:
                if m.name.endswith(".json"):
                    meta = json.loads(tf.extractfile(m).read())
                    seen[tuple(meta["labels"])] = meta["captions"]
    assert seen and all(c.startswith("Echo radiograph") for caps in seen.values() for c in caps)
    assert all("pneumonia" in c for c in seen[("pneumonia",)])
    env.pop("PYTHONPATH")  # not installed: a one-line error with the registered names
    r = _sh("medclip-shards", args, env, tmp_path)
    assert r.returncode == 2 and "unknown caption backend 'echo'" in r.stderr
