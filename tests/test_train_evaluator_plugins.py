"""Evaluator plug-ins through the ``medclip.evaluators`` entry-point group (issue 13).

``medclip-train --config configs/train/demo.yaml`` (docs/training.md) asks for ``eval.name: zeroshot``; the
console script must find it through the entry point declared in ``pyproject.toml`` (medclip never imports
zeroshot), and any installed package can add an evaluator the same way.
"""

import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from shard_fixtures import write_shards
from test_train_main import BASE
from test_zeroshot_fixtures import write_shards as write_labelled_shards

from medclip.train.evaluator_registry import EVALUATORS
from medclip.train.evaluators import create_evaluator, list_evaluators

SCRIPT = Path(sys.executable).parent / "medclip-train"
REPO = Path(__file__).resolve().parents[1]


def test_zeroshot_is_declared_as_an_entry_point():
    (ep,) = [e for e in entry_points(group="medclip.evaluators") if e.name == "zeroshot"]
    assert ep.value == "zeroshot.train_hook:make_zeroshot_evaluator"
    assert "zeroshot" in list_evaluators()


def test_demo_config_through_the_console_script_runs_the_zeroshot_evaluator(tmp_path):
    from data_pipelines.sources.demo import DEMO_CLASSES

    train = write_shards(tmp_path / "train", n=16, shards=1)
    write_labelled_shards(tmp_path / "demo" / "val", [(c.modality, c.label, "x") for c in DEMO_CLASSES], per_shard=9)
    rd = tmp_path / "run"
    args = [
        "--config", "configs/train/demo.yaml", f"data.train={train}", f"run_dir={rd}", *BASE, "epochs=1",
        "eval.every_n_epochs=1", f"eval.args.data_root={tmp_path / 'demo'}", "eval.args.max_samples=17",
        "eval.args.workers=0", "eval.args.batch_size=8", "checkpoint.every_n_steps=0",
    ]  # fmt: skip
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    p = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert p.returncode == 0, p.stderr
    assert "unknown evaluator" not in p.stderr
    (res,) = [json.loads(f.read_text()) for f in (rd / "eval").glob("step_*.json")]
    assert res["step"] == 2 and 0.0 <= res["zeroshot/demo/accuracy"] <= 1.0 and "zeroshot/mean" in res


def test_any_installed_package_adds_an_evaluator_by_entry_point(tmp_path, monkeypatch):
    """A throwaway distribution on sys.path: its evaluator is loaded only when its name is asked for."""
    (tmp_path / "myevalpkg.py").write_text(
        textwrap.dedent(
            """
            LOADED = True

            def make(args):
                return lambda model, tokenizer, **kw: {"mine/answer": float(args["answer"])}
            """
        )
    )
    dist = tmp_path / "myevalpkg-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: myevalpkg\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[medclip.evaluators]\nmine = myevalpkg:make\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert "mine" in list_evaluators() and "mine" not in EVALUATORS and "myevalpkg" not in sys.modules
        ev = create_evaluator("mine", {"answer": 42})
        assert "myevalpkg" in sys.modules and "mine" in EVALUATORS
        assert ev(None, None, device="cpu", rank=0, world_size=1, step=0, epoch=0) == {"mine/answer": 42.0}
    finally:
        if "mine" in EVALUATORS:
            EVALUATORS.unregister("mine")
        sys.modules.pop("myevalpkg", None)


def test_unknown_evaluator_names_the_entry_point_group():
    with pytest.raises(ValueError, match=r"unknown evaluator 'zeroshto'\. Did you mean: .*medclip\.evaluators"):
        create_evaluator("zeroshto")
