"""Every shell command shown in README.md and docs/*.md is checked, so the docs cannot drift.

Each command of a fenced ``bash``/``sh``/``shell``/``console`` block (continuation lines joined, comments
dropped) matches one rule of :data:`RULES`, first match wins, and an unmatched command fails the test:

- ``run``: cheap on tiny settings; executed in a scratch folder holding tiny demo shards, a tiny checkpoint,
  a report and an export, with ``tiny`` arguments appended (argparse: later flags win) and ``swap``
  replacements (e.g. the demo architecture for the tiny test one). Data/caption commands run in the default
  suite, model commands under ``make test-slow``.
- ``flags``: too slow, needs data or a network/cluster; every ``--flag`` it uses must appear in the
  program's ``--help`` (taken in-process, fast).
- ``skip``: not checkable here, with the reason.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import runpy
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FENCE = re.compile(r"^```(bash|sh|shell|console)\s*$")
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
TINY_BUILD = "sources.demo.train=1 sources.demo.val=1 sources.demo.test=1 sources.demo.test_shifted=1"
TINY_EVAL = "--max-samples 17 --workers 0 --device cpu --quiet"


@dataclass
class Rule:
    pattern: str  # regex searched in the command
    action: str  # run | flags | skip
    why: str = ""
    tiny: str = ""  # appended to run commands
    swap: dict = field(default_factory=dict)  # replacements in run commands
    slow: bool = False


RULES = [
    Rule(r"^make (demo|install|test|test-slow|lint|bench|shards)\b", "skip",
         "make targets build the venv, run the whole demo (minutes), the test suite itself or benchmarks; "
         "their commands are run individually below or by CI"),
    Rule(r"^(export MASTER_ADDR|srun )", "skip", "SLURM cluster commands"),
    Rule(r"^make serve\b", "skip", "starts a long-running server; tests/test_serve_uvicorn.py starts medclip-serve"),
    Rule(r"^medclip-serve ", "flags", "a long-running server; tests/test_serve_uvicorn.py runs one on 127.0.0.1"),
    Rule(r"^curl ", "skip", "talks to a running medclip-serve; tests/test_serve_uvicorn.py does the same over HTTP"),
    Rule(r"^pip install -e \"\.\[", "skip", "installs extras (make install does, with every extra)"),
    Rule(r"--nnodes=", "skip", "multi-node torchrun launch"),
    Rule(r"^torchrun --standalone --nproc_per_node=1 train\.py .*\[", "skip",
         "synopsis with [optional] parts; the same config runs through medclip-train below"),
    Rule(r"torchrun --nproc_per_node=1 train\.py", "skip", "same run as `medclip-train --config ...` (run below)"),
    Rule(r"^python bench/", "skip", "benchmarks (make bench)"),
    Rule(r"data_pipelines\.captions preview .*backend=openai", "flags", "needs an OpenAI-compatible server"),
    Rule(r"data_pipelines\.captions overlap --eval-prompts", "flags", "needs the user's prompt file"),
    Rule(r"data_pipelines\.captions (preview|overlap)", "run"),
    Rule(r"data_pipelines build --config configs/data/(unimed|pmc_pairs)\.yaml", "flags",
         "needs the downloaded public releases; tests/test_data_recipes.py builds both recipes from fixtures"),
    Rule(r"data_pipelines build --refresh", "run", tiny=TINY_BUILD),
    Rule(r"data_pipelines build", "run", tiny=TINY_BUILD),
    Rule(r"(data_pipelines|medclip-shards) (verify|exclusion-list|demo-findings)", "run"),
    Rule(r"clip_benchmark_export", "run", slow=True),
    Rule(r"medclip\.compat\.clip_benchmark eval", "run", swap={"medclip-small": "medclip-tiny"}, slow=True,
         tiny="--num_workers 0"),
    Rule(r"medclip\.compat\.open_clip_train", "flags", "trains; tests/test_interop_open_clip_train.py runs it"),
    Rule(r"--robustness|--fewshot-results|--compare|--calibrate|--clinical|--suite (unimed21|medmnist|my_)|hf-hub:",
         "flags", "needs real datasets, downloads, earlier runs or minutes of compute"),
    Rule(r"--bootstrap-resamples|--no-ci", "run", tiny=TINY_EVAL, slow=True),
    Rule(r"^(\.venv/bin/)?(medclip-eval|python -m zeroshot) --suite demo", "run", tiny=TINY_EVAL, slow=True),
    Rule(r"medclip-fewshot .*--make-bank", "run", tiny="--bank-size 3", slow=True),
    Rule(r"medclip-fewshot", "flags", "few-shot protocol runs take minutes"),
    Rule(r"make_expert|medclip-merge", "flags", "fine-tuning an expert and the merge protocol take minutes"),
    Rule(r"^medclip-train --config configs/train/demo\.yaml", "run", slow=True,
         tiny="model.name=medclip-tiny total_steps=2 epochs=1 data.batch_size=8 data.workers=0 "
              "eval.args.max_samples=17 run_dir=runs/docs_train"),
    Rule(r"^medclip-export ", "run", slow=True),
    Rule(r"create_model_from_pretrained\('local-dir:exported/demo'\)", "run", slow=True),
]  # fmt: skip


def shell_commands() -> list[tuple[str, str]]:
    """``(doc file, command)`` of every fenced shell block line (continuations joined, comments dropped)."""
    out = []
    for path in DOCS:
        inside, buf = False, ""
        for line in path.read_text().splitlines():
            if not inside:
                inside = bool(FENCE.match(line.strip()))
                continue
            if line.strip().startswith("```"):
                inside, buf = False, ""
                continue
            text = (buf + " " + line.strip()) if buf else line.rstrip()
            if text.endswith("\\"):
                buf = text[:-1].rstrip()
                continue
            buf = ""
            text = _strip_comment(text.strip())
            if text:
                out.append((path.name, text))
    return out


def _strip_comment(cmd: str) -> str:
    """``cmd`` without a trailing ``# comment`` (a ``#`` after whitespace, outside quotes)."""
    quote = None
    for i, ch in enumerate(cmd):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or cmd[i - 1].isspace()):
            return cmd[:i].strip()
    return cmd.strip()


def rule_for(cmd: str) -> Rule | None:
    """The first rule matching ``cmd``."""
    return next((r for r in RULES if re.search(r.pattern, cmd)), None)


COMMANDS = shell_commands()
IDS = [f"{doc}:{i}:{cmd[:60]}" for i, (doc, cmd) in enumerate(COMMANDS)]


def test_the_docs_have_commands():
    assert len(COMMANDS) > 30
    assert any("clip_benchmark" in c for _, c in COMMANDS) and any("open_clip_train" in c for _, c in COMMANDS)


@pytest.mark.parametrize("doc,cmd", COMMANDS, ids=IDS)
def test_every_command_is_classified(doc, cmd):
    rule = rule_for(cmd)
    assert rule is not None, f"{doc}: add a rule for this command to tests/test_docs_commands.py: {cmd}"
    assert rule.action in ("run", "flags", "skip") and (rule.action == "run" or rule.why)


# --- flags: every --flag of a command is in its program's --help --------------------------------------


def _program(tokens: list[str]) -> tuple[str, list[str]]:
    """``(program, subcommand args)`` of a command's tokens."""
    tokens = [t.removeprefix(".venv/bin/") for t in tokens]
    if tokens[0] == "python" and tokens[1] == "-m":
        module, rest = tokens[2], tokens[3:]
        sub = rest[:1] if rest and not rest[0].startswith("-") and "=" not in rest[0] else []
        if module in ("zeroshot", "zeroshot.merging.make_expert", "medclip.compat.open_clip_train"):
            sub = []
        return f"-m {module}", sub
    prog = tokens[0]
    sub = tokens[1:2] if prog == "medclip-shards" else []
    return prog, sub


_HELP: dict[tuple, str] = {}


def help_text(prog: str, sub: list[str]) -> str:
    """``prog [sub] --help`` output, produced in-process (console-script entry point or ``runpy``)."""
    key = (prog, *sub)
    if key in _HELP:
        return _HELP[key]
    buf, argv0 = io.StringIO(), sys.argv
    try:
        with contextlib.redirect_stdout(buf), pytest.raises(SystemExit):
            if prog.startswith("-m "):
                module = prog[3:]
                sys.argv = [module, *sub, "--help"]
                if module == "medclip.compat.open_clip_train":
                    from open_clip_train.params import parse_args

                    parse_args(["--help"])
                runpy.run_module(module, run_name="__main__", alter_sys=True)
            else:
                (ep,) = [e for e in entry_points(group="console_scripts") if e.name == prog]
                ep.load()([*sub, "--help"])
    finally:
        sys.argv = argv0
    _HELP[key] = buf.getvalue()
    return _HELP[key]


FLAG_COMMANDS = [(d, c) for d, c in COMMANDS if (rule_for(c) or Rule("", "skip")).action in ("flags", "run")]


@pytest.mark.parametrize("doc,cmd", FLAG_COMMANDS, ids=[f"{d}:{c[:60]}" for d, c in FLAG_COMMANDS])
def test_flags_exist(doc, cmd):
    if cmd.startswith("python -c"):
        return  # a Python one-liner, run under make test-slow
    tokens = shlex.split(cmd.replace("[", " ").replace("]", " "))
    prog, sub = _program(tokens)
    text = help_text(prog, sub)
    assert "usage:" in text, (prog, sub)
    flags = {t.split("=")[0] for t in tokens if t.startswith("--")}
    missing = sorted(f for f in flags if not re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", text))
    assert not missing, f"{doc}: {prog} {' '.join(sub)} has no {missing}: {cmd}"


# --- run: cheap commands on tiny settings ------------------------------------------------------------------

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
       "TQDM_DISABLE": "1", "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}  # fmt: skip


def _sh(cmd: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", cmd], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """Tiny demo shards (data/shards/demo); the documented commands then run in doc order."""
    ws = tmp_path_factory.mktemp("docs")
    r = _sh(f"medclip-shards build --out data/shards/demo --workers 1 --no-progress {TINY_BUILD}", ws)
    assert r.returncode == 0, r.stderr
    return ws


@pytest.fixture(scope="module")
def model_workspace(workspace):
    """Adds a tiny checkpoint (runs/demo/checkpoints/latest.pt and ckpt.pt), a report and an export."""
    import shutil

    import torch

    import medclip

    ckpt = workspace / "runs" / "demo" / "checkpoints" / "latest.pt"
    if not ckpt.is_file():
        ckpt.parent.mkdir(parents=True)
        torch.manual_seed(0)
        model, _, _ = medclip.create_model("medclip-tiny")
        state = {"name": "medclip-tiny", "step": 1, "epoch": 1, "state_dict": model.state_dict(),
                 "config": {"data": {"train": "data/shards/demo/train"}}}  # fmt: skip
        torch.save(state, ckpt)
        shutil.copyfile(ckpt, workspace / "ckpt.pt")
        r = _sh(f"medclip-eval --suite demo --model {ckpt} --out reports/demo {TINY_EVAL}", workspace)
        assert r.returncode == 0, r.stderr
        r = _sh(f"medclip-export {ckpt} exported/demo --report reports/demo/report.json", workspace)
        assert r.returncode == 0, r.stderr
    return workspace


def _runnable(cmd: str, rule: Rule) -> str:
    cmd = re.sub(r"\s\[[^\]]*\]", "", cmd).replace(".venv/bin/", "")  # [optional] parts, venv prefix
    for a, b in rule.swap.items():
        cmd = cmd.replace(a, b)
    return f"{cmd} {rule.tiny}".strip()


RUN = [(d, c, rule_for(c)) for d, c in COMMANDS if (rule_for(c) or Rule("", "skip")).action == "run"]
RUN_PARAMS = [pytest.param(d, c, r, marks=[pytest.mark.slow] if r.slow else [], id=f"{d}:{c[:60]}") for d, c, r in RUN]


@pytest.mark.parametrize("doc,cmd,rule", RUN_PARAMS)
def test_command_runs(doc, cmd, rule, request):
    ws = request.getfixturevalue("model_workspace" if rule.slow else "workspace")
    r = _sh(_runnable(cmd, rule), ws)
    assert r.returncode == 0, f"{doc}: `{_runnable(cmd, rule)}` failed:\n{r.stdout[-1500:]}\n{r.stderr[-3000:]}"


def test_a_documented_flag_that_does_not_exist_is_caught():
    text = help_text("medclip-eval", [])
    assert re.search(r"(?<![\w-])--max-samples(?![\w-])", text)
    assert not re.search(r"(?<![\w-])--max-sample(?![\w-])", text)
    assert json.dumps(rule_for("make demo").__dict__)  # rules are plain data
