"""`medclip-serve` command line: defaults in --help, a missing GPU is one line (exit 2) before any model loads."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent / "medclip-serve"


def _run(*args):
    exe = str(BIN) if BIN.exists() else shutil.which("medclip-serve")
    if exe is None:
        pytest.skip("medclip-serve console script is not installed")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120)


def test_help_shows_defaults():
    out = _run("--help")
    assert out.returncode == 0
    text = " ".join(out.stdout.split())
    for flag, default in (("--port", "8000"), ("--device", "cpu"), ("--max-batch", "16"), ("--log-level", "info")):
        assert flag in text and f"(default: {default})" in text


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a GPU is present")
def test_device_cuda_without_gpu_is_one_line():
    out = _run("--model", "medclip-tiny", "--device", "cuda")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().splitlines() == [
        "medclip-serve: error: --device cuda: no CUDA GPU is available on this machine (use --device cpu)"
    ]
