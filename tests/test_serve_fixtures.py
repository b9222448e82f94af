"""Fixtures of the serving tests: a tiny model that is right on the demo modalities, demo PNG / DICOM files.

No trained demo checkpoint is cheap enough for the default suite, so :func:`demo_checkpoint` fits one in
closed form (~15 s, cached for the whole session): ``medclip-tiny`` at its seed-0 initialisation, then

* ``visual.proj`` := a ridge regression from the image tower's pooled features of *train*-split demo
  renders to one-hot modality codes (a linear probe folded into the projection), and
* ``text_projection`` := the minimum-norm solution mapping the pooled text features of the prompts
  ``"a medical image of <name>."`` for the six :data:`MODALITY_CLASSES` names onto the same codes.

The served classifier over those six typed class names is then a modality probe trained on train renders;
the tests classify *test*-split renders (other seeds), through the server's own decoding and preprocessing,
so "the top class is right" can fail (wrong decode, channel order, preprocessing, class order, calibration).
"""

from __future__ import annotations

import atexit
import functools
import io
import shutil
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image

MODALITY_CLASSES = {
    "xray": "chest x-ray",
    "ct": "abdominal ct",
    "mri": "brain mri",
    "ultrasound": "breast ultrasound",
    "pathology": "colon histology",
    "fundus": "retinal fundus photograph",
}
TEMPLATE = "a medical image of {}."
PATIENT_NAME = "Doe^Janet^Secretname"
PATIENT_ID = "PID-778899-SECRET"


def demo_classes_of(modality: str) -> list[int]:
    from data_pipelines.sources.demo import DEMO_CLASSES

    return [i for i, c in enumerate(DEMO_CLASSES) if c.modality == modality]


def demo_pixels(modality: str, split: str = "test", index: int = 0) -> np.ndarray:
    """A demo render (uint8, grayscale or RGB) of the first class of ``modality``."""
    from data_pipelines.sources.demo import render

    return render(demo_classes_of(modality)[index % len(demo_classes_of(modality))], split=split, index=index)


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def dicom_bytes(
    arr: np.ndarray | None, *, modality: str = "CR", patient: bool = True, pixels: bool = True, rows=None, cols=None
) -> bytes:
    """A MONOCHROME2 DICOM (16-bit stored, window in the file) of ``arr``; PatientName/ID set when ``patient``.

    ``arr=None`` is a black 64 x 64 image; ``pixels=False`` writes no PixelData; ``rows`` / ``cols`` override the
    header's dimensions (a header bomb keeps its small PixelData).
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1"  # CR Image Storage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = (
        meta.MediaStorageSOPClassUID,
        meta.MediaStorageSOPInstanceUID,
        modality,
    )
    if patient:
        ds.PatientName, ds.PatientID, ds.InstitutionName = PATIENT_NAME, PATIENT_ID, "Secret General Hospital"
    gray = np.zeros((64, 64), np.uint8) if arr is None else (arr if arr.ndim == 2 else arr.mean(-1).astype(np.uint8))
    ds.Rows = rows if rows is not None else gray.shape[0]
    ds.Columns = cols if cols is not None else gray.shape[1]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.WindowCenter, ds.WindowWidth = 2048, 4096
    if pixels:
        ds.PixelData = (gray.astype(np.uint16) * 16).tobytes()  # 12-bit values; the window maps them back
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def png_header_bomb(width: int = 65500, height: int = 65500) -> bytes:
    """A valid-looking PNG whose IHDR claims ``width x height`` 8-bit RGB, with a tiny IDAT."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


def _pooled(model, pre, images) -> torch.Tensor:
    return model.encode_image(torch.stack([pre(Image.fromarray(a).convert("RGB")) for a in images]))


@functools.cache
def demo_checkpoint() -> Path:
    """Path of the fitted tiny checkpoint (``latest.pt``), written once per test session."""
    import medclip

    torch.manual_seed(0)
    model, pre, tok = medclip.create_model("medclip-tiny")
    model.eval()
    mods = list(MODALITY_CLASSES)
    dim = model.visual.proj.shape[0]
    with torch.no_grad():
        model.visual.proj.data = torch.eye(dim)
        feats, labels = [], []
        for k, m in enumerate(mods):
            imgs = [demo_pixels(m, "train", i) for i in range(6 * len(demo_classes_of(m)))]
            feats.append(_pooled(model, pre, imgs))
            labels += [k] * len(imgs)
        f = torch.cat(feats).double()
        target = torch.nn.functional.one_hot(torch.tensor(labels), model.visual.proj.shape[1]).double()
        model.visual.proj.data = torch.linalg.solve(f.T @ f + 1e-2 * torch.eye(dim), f.T @ target).float()
        prompts = [TEMPLATE.replace("{}", MODALITY_CLASSES[m]) for m in mods]
        model.text_projection.data = torch.eye(model.text_projection.shape[0])
        x = model.encode_text(tok(prompts)).double()
        codes = torch.eye(model.text_projection.shape[1])[: len(mods)].double()
        model.text_projection.data = (torch.linalg.pinv(x) @ codes).float()
    folder = Path(tempfile.mkdtemp(prefix="medclip-serve-ckpt-"))
    atexit.register(shutil.rmtree, folder, True)
    path = folder / "latest.pt"
    torch.save({"epoch": 1, "step": 1, "name": "medclip-tiny", "state_dict": model.state_dict(), "optimizer": {},
                "scaler": {}, "config": {}}, path)  # fmt: skip
    return path


class Server:
    """A ``medclip-serve`` subprocess on 127.0.0.1 with a free port (``--port 0``), stopped on exit."""

    def __init__(self, *args: str, startup_s: float = 120.0, threads: int = 1):
        import os
        import subprocess
        import sys

        self.args, self.startup_s = args, startup_s
        self.log_path = Path(tempfile.mkdtemp(prefix="medclip-serve-log-")) / "server.log"
        self._popen = lambda: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "medclip.serve",
                *args,
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--threads",
                str(threads),
            ],
            stdout=open(self.log_path, "w"),
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def __enter__(self):
        import re
        import time

        self.proc = self._popen()
        deadline = time.monotonic() + self.startup_s
        while time.monotonic() < deadline:
            m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", self.log_path.read_text())
            if m:
                self.url = m.group(1)
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"medclip-serve exited: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        self.proc.kill()
        raise RuntimeError(f"medclip-serve did not start in {self.startup_s}s: {self.log_path.read_text()[-2000:]}")

    def log(self) -> str:
        return self.log_path.read_text()

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except Exception:
            self.proc.kill()
            self.proc.wait(timeout=20)
        shutil.rmtree(self.log_path.parent, True)


SHARED_SERVER_ARGS = ("--max-batch", "8", "--max-wait-ms", "200", "--max-upload-mb", "2", "--log-level", "debug")


@functools.cache
def shared_server() -> Server:
    """One ``medclip-serve`` process on the fitted demo model for the whole session (uvicorn + browser tests)."""
    s = Server("--model", f"demo={demo_checkpoint()}", *SHARED_SERVER_ARGS)
    s.__enter__()
    atexit.register(s.__exit__, None, None, None)
    return s
