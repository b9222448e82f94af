"""Contact sheet of every real DICOM / NIfTI file decoded the way the shard builder decodes it.

    .venv/bin/python bench/real_files_contact_sheet.py --out docs/img/real_files_contact_sheet.png

DICOM: pydicom's test files and pydicom-data (installed, never downloaded), image SOP classes only, the
first frame, ``window=auto`` (file window > VOI LUT > CT soft-tissue preset > min-max), MONOCHROME1
inverted. NIfTI: nibabel's test files, the middle axial slice of the RAS volume, radiological display.
Files that cannot be decoded are listed on stdout with their reason.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from data_pipelines.sources.dicom import local_pydicom_files
from medclip.imaging.dicom import decode_frames, modality_from_tag, non_image_reason
from medclip.imaging.errors import DecodeError
from medclip.imaging.nifti import display_slice, oriented_slice, target_shape
from medclip.imaging.window import window_to_uint8

TILE, LABEL = 128, 12


def dicom_tiles() -> list[tuple[str, np.ndarray]]:
    import pydicom

    out = []
    for path in local_pydicom_files():
        name = Path(path).name
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path)
                if non_image_reason(ds):
                    continue
                mod = modality_from_tag(str(ds.get("Modality", "")))
                ((px, _),) = decode_frames(ds, [0], modality=mod, window="auto", center=None, width=None)
        except DecodeError as e:
            print(f"skip {name}: {e.reason} ({e.detail})")
            continue
        except Exception as e:
            print(f"skip {name}: {type(e).__name__}")
            continue
        out.append((name, px))
    return out


def nifti_tiles() -> list[tuple[str, np.ndarray]]:
    import nibabel as nib

    out = []
    for path in sorted((Path(nib.__file__).parent / "tests" / "data").glob("*.nii*")):
        try:
            img = nib.load(path)
            if len(img.shape) < 3 or min(img.shape[:3]) < 2:
                continue
            s = target_shape(img)[2] // 2
            sl = display_slice(oriented_slice(img, 2, s))
        except Exception as e:
            print(f"skip {path.name}: {type(e).__name__}")
            continue
        out.append((f"{path.name} z={s}", window_to_uint8(sl, float(sl.min()), float(sl.max()))))
    return out


def sheet(tiles: list[tuple[str, np.ndarray]], cols: int = 10) -> Image.Image:
    """Grid of tiles, each scaled to fit TILE x TILE with its name under it."""
    rows = -(-len(tiles) // cols)
    img = Image.new("RGB", (cols * TILE, rows * (TILE + LABEL)), (40, 40, 40))
    draw = ImageDraw.Draw(img)
    for i, (name, px) in enumerate(tiles):
        tile = Image.fromarray(px).convert("RGB")
        scale = (TILE - 4) / max(tile.size)  # small images are enlarged (nearest neighbour) so they can be seen
        size = (max(1, round(tile.width * scale)), max(1, round(tile.height * scale)))
        tile = tile.resize(size, Image.BICUBIC if scale < 1 else Image.NEAREST)
        x, y = (i % cols) * TILE, (i // cols) * (TILE + LABEL)
        img.paste(tile, (x + (TILE - tile.width) // 2, y + (TILE - tile.height) // 2))
        draw.text((x + 2, y + TILE), name[:22], fill=(230, 230, 120))
    return img


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="docs/img/real_files_contact_sheet.png")
    args = p.parse_args(argv)
    tiles = dicom_tiles() + nifti_tiles()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    sheet(tiles).save(args.out, optimize=True)
    print(f"{len(tiles)} decoded real files -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
