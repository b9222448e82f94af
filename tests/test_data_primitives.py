"""Fast primitives of the build path against their reference implementations (scipy, webdataset, arctan2)."""

import io
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from data_pipelines.sources.demo_canvas import blur, gaussian_blur2d, grid, wobbly
from data_pipelines.tarwriter import TarWriter


@pytest.mark.parametrize("sigma,truncate", [(0.4, 2.5), (1.3, 3.0), (5.7, 3.0)])
def test_gaussian_matrix_blur_matches_scipy(sigma, truncate):
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(0)
    gray = rng.random((48, 48)).astype(np.float32)
    rgb = rng.random((48, 48, 3)).astype(np.float32)
    ref = gaussian_filter(gray.astype(np.float64), sigma, truncate=truncate, mode="reflect")
    assert np.abs(gaussian_blur2d(gray, sigma, truncate) - ref).max() < 1e-5
    ref = gaussian_filter(rgb.astype(np.float64), (sigma, sigma, 0), truncate=truncate, mode="reflect")
    assert np.abs(gaussian_blur2d(rgb, sigma, truncate) - ref).max() < 1e-5


def test_three_tap_blur_matches_scipy_radius_one():
    from scipy.ndimage import gaussian_filter

    img = np.random.default_rng(1).random((32, 32, 3)).astype(np.float32)
    ref = gaussian_filter(img.astype(np.float64), (0.5, 0.5, 0), truncate=2.0)  # radius int(2*0.5+0.5) = 1
    assert np.abs(blur(img, 0.5) - ref).max() < 1e-5


def test_wobbly_harmonics_equal_arctan2_formula():
    X, Y = grid(64, np.random.default_rng(2))
    got = wobbly(X, Y, 0.1, -0.2, 0.3, np.random.default_rng(5), amp=0.1, freqs=(3, 7, 11, 13), aspect=(1.0, 1.3))
    rng = np.random.default_rng(5)
    dx, dy = (X - 0.1).astype(np.float64), (Y + 0.2).astype(np.float64) / 1.3
    theta, mod = np.arctan2(dy, dx), np.ones(X.shape)
    for k in (3, 7, 11, 13):
        mod += 0.1 * rng.uniform(0.3, 1.0) * np.sin(k * theta + rng.uniform(0, 2 * np.pi))
    ref = np.clip((1 - np.hypot(dx, dy) / (0.3 * mod)) / 0.08 + 0.5, 0, 1)
    assert np.abs(got - ref).max() < 1e-4
    assert got.max() == 1.0 and got.min() == 0.0


def test_tarwriter_bytes_equal_webdataset_and_tarfile_reads_them():
    wds = pytest.importorskip("webdataset")
    samples = [
        {"__key__": f"demo-{i:09d}", "jpg": bytes(range(256)) * (i + 1), "txt": "caption é".encode(), "json": b"{}"}
        for i in range(12)
    ]
    ref = io.BytesIO()
    w = wds.TarWriter(ref, user="medclip", group="medclip", mode=0o444, mtime=0.0, encoder=False)
    w.tarstream.format = tarfile.USTAR_FORMAT
    for s in samples:
        w.write(s)
    w.close()
    out = io.BytesIO()
    t = TarWriter(out)
    for s in samples:
        t.write(s)
    digest = t.close()
    assert out.getvalue() == ref.getvalue()
    import hashlib

    assert digest == hashlib.sha256(out.getvalue()).hexdigest() and t.offset == len(out.getvalue())
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tf:
        assert tf.extractfile("demo-000000003.jpg").read() == samples[3]["jpg"]


def test_build_path_imports_no_torch_or_scipy():
    code = (
        "import sys, data_pipelines.cli, data_pipelines.build, data_pipelines.captions;"
        "print(sorted(m for m in ('torch', 'open_clip', 'scipy', 'webdataset', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
