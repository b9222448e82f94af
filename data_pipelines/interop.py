"""Command-line arguments other tools need to read medclip shards (open_clip_train's ``--train-data``)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

_NUMBERED = re.compile(r"^(?P<stem>.*?)(?P<num>\d+)(?P<ext>\.tar(?:\.gz)?|\.tgz)$")


def brace_pattern(files: list[str]) -> str:
    """The shortest webdataset URL pattern naming exactly ``files`` (shard file names of one folder).

    Consecutive numbered shards become ``train-{000000..000006}.tar``; anything else is joined with ``::``
    (open_clip_train and webdataset accept both).
    """
    if not files:
        raise ValueError("no shard files")
    if len(files) == 1:
        return files[0]
    parts = [_NUMBERED.match(f) for f in files]
    if all(parts):
        stems = {(m["stem"], m["ext"], len(m["num"])) for m in parts}
        nums = sorted(int(m["num"]) for m in parts)
        if len(stems) == 1 and nums == list(range(nums[0], nums[0] + len(nums))):
            stem, ext, width = stems.pop()
            return f"{stem}{{{nums[0]:0{width}d}..{nums[-1]:0{width}d}}}{ext}"
    return "::".join(files)


def open_clip_train_args(split_dir: str | Path, manifest: dict) -> dict:
    """``{"train_data": <pattern relative to the split folder>, "train_num_samples": N}`` of one split."""
    files = [s["file"] for s in manifest.get("shards", [])]
    return {"train_data": brace_pattern(files), "train_num_samples": int(manifest.get("num_samples", 0))}


def open_clip_train_flags(split_dir: str | Path, manifest: dict) -> str:
    """The shell-quoted ``--train-data ... --train-num-samples ... --dataset-type webdataset`` flags."""
    args = manifest.get("open_clip_train") or open_clip_train_args(split_dir, manifest)
    folder = Path(split_dir)
    data = "::".join(str(folder / p) for p in args["train_data"].split("::"))
    return f"--train-data {shlex.quote(data)} --train-num-samples {args['train_num_samples']} --dataset-type webdataset"
