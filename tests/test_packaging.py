"""Packaging: shipped configs found through importlib.resources; the wheel carries every run-time file."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from medclip import resources

REPO = Path(__file__).resolve().parents[1]


def test_config_root_is_the_configs_package():
    import medclip_configs

    assert resources.config_root() == Path(medclip_configs.__file__).parent
    assert (resources.config_dir("eval") / "demo.yaml").is_file()
    assert resources.config_file("train", "demo.yaml").read_text() == (REPO / "configs/train/demo.yaml").read_text()


def test_bad_names_are_one_line_errors():
    with pytest.raises(ValueError, match="unknown config family 'evals'; choose from data, eval"):
        resources.config_dir("evals")
    with pytest.raises(ValueError, match=r"no shipped config 'train/nope.yaml'; train/ holds: .*demo.yaml"):
        resources.config_file("train", "nope.yaml")


def test_documented_config_paths_work_from_any_folder(tmp_path, monkeypatch):
    from medclip.config import read_yaml

    monkeypatch.chdir(tmp_path)
    assert resources.resolve_config_path("configs/train/demo.yaml") == resources.config_file("train", "demo.yaml")
    assert read_yaml("configs/merge/demo.yaml") == read_yaml(REPO / "configs/merge/demo.yaml")
    (tmp_path / "configs" / "train").mkdir(parents=True)
    (tmp_path / "configs/train/demo.yaml").write_text("seed: 5\n")  # a local file wins over the shipped one
    assert read_yaml("configs/train/demo.yaml") == {"seed": 5}
    assert resources.resolve_config_path("configs/train/other.yaml") == Path("configs/train/other.yaml")


def test_suite_and_preset_lookups_use_the_shipped_folder():
    from zeroshot import suites
    from zeroshot.fewshot import cli as fewshot_cli

    assert suites.CONFIG_DIR == resources.config_dir("eval")
    assert fewshot_cli.CONFIG_DIR == resources.config_dir("fewshot")
    assert [n for n, _ in suites.list_suites()] == sorted(p.stem for p in (REPO / "configs/eval").glob("*.yaml"))


def _runtime_files() -> set[str]:
    """Every non-Python file the code reads at run time, as its path inside the wheel."""
    out = {f"medclip_configs/{p.relative_to(REPO / 'configs')}" for p in (REPO / "configs").rglob("*") if p.is_file()}
    for pkg in ("medclip", "data_pipelines", "zeroshot"):
        for p in (REPO / pkg).rglob("*"):
            if p.is_file() and p.suffix in (".json", ".yaml", ".txt") and "__pycache__" not in p.parts:
                out.add(str(p.relative_to(REPO)))
    return {f for f in out if not f.endswith(".pyc")}


@pytest.mark.slow
def test_wheel_holds_every_runtime_file(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-build-isolation", "--no-deps", "-w", str(tmp_path), REPO],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(REPO / "build", ignore_errors=True)  # setuptools' in-tree build folder
    (wheel,) = tmp_path.glob("medclip-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(_runtime_files() - names)
    assert not missing, f"not in the wheel: {missing}"
    assert "medclip_configs/__init__.py" in names and "medclip/resources.py" in names


@pytest.mark.slow
def test_wheel_in_clean_venv_runs_from_a_temporary_folder():
    """The CI step itself (.ci/wheel_check.sh): --help, suite listing, tiny demo shards and a zero-shot run."""
    r = subprocess.run(
        ["bash", str(REPO / ".ci/wheel_check.sh"), sys.executable], capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "wheel check: ok" in r.stdout
