"""CLI conventions through the real console scripts (subprocesses): help with defaults, one-line device
errors, missing datasets fail once, --max-samples reaches the linear probe, progress lines and --quiet,
positional overrides with the deprecated --set spelling."""

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_zeroshot_fixtures import write_shards

BIN = Path(sys.executable).parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
COMMANDS = [
    ["medclip-train"],
    ["medclip-shards", "build"],
    ["medclip-shards", "verify"],
    ["medclip-shards", "exclusion-list"],
    ["medclip-eval"],
    ["medclip-fewshot"],
    ["medclip-merge"],
    ["medclip-export"],
    ["-m", "data_pipelines.captions", "preview"],
    ["-m", "data_pipelines.captions", "overlap"],
    ["-m", "zeroshot.merging.make_expert"],
]


def run(cmd: list[str], *args: str, cwd=None, timeout=300) -> subprocess.CompletedProcess:
    exe = [sys.executable, *cmd] if cmd[0] == "-m" else [str(BIN / cmd[0]), *cmd[1:]]
    return subprocess.run([*exe, *args], capture_output=True, text=True, env=ENV, cwd=cwd, timeout=timeout)


def help_entries(text: str) -> list[str]:
    """Each option / positional entry of an argparse help page, continuation lines joined."""
    entries, cur = [], None
    for line in text.splitlines():
        if re.match(r"^  \S", line):
            entries.append(cur) if cur else None
            cur = line.strip()
        elif cur is not None and re.match(r"^\s{4,}\S", line):
            cur += " " + line.strip()
        else:
            entries.append(cur) if cur else None
            cur = None
    return entries + ([cur] if cur else [])


@pytest.mark.parametrize("cmd", COMMANDS, ids=" ".join)
def test_every_flag_has_help_with_its_default(cmd):
    r = run(cmd, "--help")
    assert r.returncode == 0, r.stderr
    entries = [e for e in help_entries(r.stdout) if not e.startswith(("-h, --help", "{"))]
    assert entries
    undocumented = [e for e in entries if "default" not in e and "required" not in e]
    assert not undocumented, undocumented


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """A two-modality demo-like suite: 3 classes, 6 images per split."""
    root = tmp_path_factory.mktemp("suite")
    samples = [("xray", lab, f"a {lab} image") for lab in ("red", "green", "blue") for _ in range(6)]
    for i, split in enumerate(["test", "train", "val"]):
        write_shards(root / split, samples, per_shard=7, seed=i)
    suite = {
        "name": "tiny",
        "description": "three colours",
        "data_root": str(root),
        "template_sets": {"t": ["a photo of {}."]},
        "datasets": [
            {"name": "colours", "modality": "xray", "layout": "shards", "path": "test", "metric": "accuracy",
             "template_set": "t", "probe_train": "train", "probe_val": "val",
             "classes": [{"name": c, "match": [c]} for c in ("red", "green", "blue")]}
        ],
    }  # fmt: skip
    (root / "tiny.yaml").write_text(json.dumps(suite))
    return root


def test_missing_datasets_fail_once_each(tmp_path):
    r = run(["medclip-eval"], "--suite", "unimed21", "--data-root", "/nonexistent", "--model", "medclip-tiny",
            "--device", "cpu", "--out", str(tmp_path / "r"))  # fmt: skip
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith("medclip-eval: error: no dataset of suite 'unimed21'")
    from zeroshot.suites import load_suite

    both = r.stdout + r.stderr
    for ds in load_suite("unimed21", "/nonexistent").datasets:
        assert both.count(f"MISSING: dataset '{ds.name}'") == 1, ds.name
    assert "skipping" not in r.stderr  # no second copy through logging


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
@pytest.mark.parametrize("prog", ["medclip-eval", "medclip-fewshot"])
def test_device_cuda_without_gpu_is_one_line(prog):
    r = run([prog], "--suite", "demo", "--model", "medclip-tiny", "--device", "cuda")
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--device cuda: no CUDA GPU is available" in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_max_samples_reaches_the_linear_probe_and_counts_are_printed(tmp_path, shards):
    r = run(["medclip-eval"], "--suite", str(shards / "tiny.yaml"), "--model", "medclip-tiny", "--device", "cpu",
            "--workers", "0", "--linear-probe", "--max-samples", "5", "--out", str(tmp_path / "r"))  # fmt: skip
    assert r.returncode == 0, r.stderr
    probe = json.loads((tmp_path / "r" / "report.json").read_text())["linear_probe"][0]
    assert (probe["n_train"], probe["n_val"], probe["n_test"]) == (5, 5, 5)
    assert "colours                  accuracy" in r.stdout and "(n=5)" in r.stdout
    assert "(train n=5, val n=5, test n=5" in r.stdout and "zero-shot" in r.stdout
    assert "linear probe colours: encoding and fitting" in r.stderr  # a progress line per stage
    assert "dataset 1/1: colours" in r.stderr


def test_quiet_prints_no_progress(tmp_path, shards):
    r = run(["medclip-eval"], "--suite", str(shards / "tiny.yaml"), "--model", "medclip-tiny", "--device", "cpu",
            "--workers", "0", "--quiet", "--out", str(tmp_path / "r"))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "medclip-eval [" not in r.stderr
    assert "colours" in r.stdout


def test_progress_draws_a_bar_on_a_terminal_and_lines_otherwise():
    from medclip.progress import Progress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty, log = Tty(), io.StringIO()
    assert list(Progress("x", stream=tty).iter([1, 2, 3], "item")) == [1, 2, 3]
    assert "x item:" in tty.getvalue() and "/3 [" in tty.getvalue() and "\r" in tty.getvalue()  # a tqdm bar
    list(Progress("x", stream=log).iter(["a", "b"], "item"))
    lines = log.getvalue().splitlines()
    assert len(lines) == 2 and lines[1].endswith("item 2/2: b")
    quiet = io.StringIO()
    list(Progress("x", stream=quiet, quiet=True).iter([1], "item"))
    assert quiet.getvalue() == ""


def test_positional_overrides_everywhere_and_set_is_deprecated():
    base = ["--config", "configs/train/demo.yaml", "--print-config"]
    pos = run(["medclip-train"], *base, "seed=5", "optim.lr=0.01")
    old = run(["medclip-train"], *base, "--set", "seed=5", "optim.lr=0.01")
    assert pos.returncode == old.returncode == 0, pos.stderr + old.stderr
    assert pos.stdout == old.stdout and "seed: 5" in pos.stdout
    assert "deprecated" in old.stderr and "deprecated" not in pos.stderr
    # few-shot: the positional form reaches the method config (an unknown key is named)
    r = run(["medclip-fewshot"], "optim.lrr=1", "--method", "coop", "--model", "medclip-tiny", "--device", "cpu")
    assert r.returncode != 0 and "optim.lrr" in r.stderr and "Traceback" not in r.stderr
    bad = run(["medclip-train"], *base, "seed")
    assert bad.returncode == 2 and "not key=value" in bad.stderr


def test_merge_report_header_names_the_severities_used():
    from zeroshot.merging.report import markdown

    row = {"in_domain_top1": 0.5, "in_domain_er": 0, "novel_top1": 0.5, "novel_er": 0, "ms_per_1000": 1,
           "rebuilds": 0, "lambda_mean": None}  # fmt: skip
    setting = {"n": 4, "methods": {"base": {"top1": 0.5}}}
    report = {"table": {"base": row}, "settings": {"in_domain": setting, "jpeg@2": setting, "jpeg@4": setting}}
    md = markdown(report)
    assert "x severities 2, 4" in md and "1-5" not in md
