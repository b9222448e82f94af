"""``medclip-export``: a trainer checkpoint -> a portable open_clip folder (``local-dir:`` and hub layout).

The folder is self-contained and holds no path of the exporting machine:

- ``open_clip_config.json``: ``model_cfg`` (the architecture) + ``preprocess_cfg`` (size, mean, std ...);
- ``open_clip_model.safetensors``: every weight, text tower included;
- for Hugging Face text towers, the tower's ``config.json`` and its tokenizer files;
- ``README.md``: a model card (architecture, training data from the shard manifest, zero-shot numbers from
  a ``medclip-eval`` report, intended use, limitations).

Files are written mode 0644. It loads with plain open_clip (no medclip needed)::

    model, preprocess = open_clip.create_model_from_pretrained("local-dir:exported/demo")
    tokenizer = open_clip.get_tokenizer("local-dir:exported/demo")

Uploaded as a hub repository (``--hub-id owner/name``), ``hf-hub:owner/name`` loads the same way. stock
open_clip builds an HF text tower from ``text_cfg.hf_model_name`` with ``transformers.AutoConfig``, which
takes a hub id or an absolute folder, never a folder relative to the export. So the export names a hub id:
``--hub-id`` (the repository holds the tower's ``config.json``), else the tower's public id (e.g.
``sentence-transformers/all-MiniLM-L6-v2``); only that config (no weights) is read from the hub or the HF
cache. ``medclip.create_model("local-dir:...")`` reads it from the folder and needs no hub at all.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
FILE_MODE = 0o644
DIR_MODE = 0o755


def _hub_id(name: str, hub_id: str | None) -> str:
    """The hub id the exported config names for an HF text tower."""
    from .models.registry import _MEDCLIP_MODELS, LOCAL_TEXT_TOWERS

    if hub_id:
        if hub_id.count("/") != 1 or hub_id.startswith(("/", ".")):
            raise ValueError(f"--hub-id must look like OWNER/NAME, got {hub_id!r}")
        return hub_id
    declared = _MEDCLIP_MODELS.get(name, {}).get("text_cfg", {}).get("hf_model_name", "")
    if declared.startswith("medclip-local/") or os.path.isabs(declared) or not declared:
        raise ValueError(
            f"the text tower of {name!r} ({declared or 'a local folder'}) is not on the Hugging Face hub; "
            "pass --hub-id OWNER/NAME (the repository this folder will be uploaded to)"
        )
    if declared in LOCAL_TEXT_TOWERS or declared.count("/") == 1:
        return declared
    raise ValueError(f"text tower {declared!r} of {name!r} is not a hub id; pass --hub-id OWNER/NAME")


def _copy_tokenizer(source: str, out: Path) -> None:
    src = Path(source)
    if src.is_dir():
        for fn in TOKENIZER_FILES:
            if (src / fn).is_file():
                shutil.copyfile(src / fn, out / fn)
        return
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(source).save_pretrained(out)


def _manifest_for(ckpt: dict, manifest: str | Path | None) -> dict | None:
    if manifest is None:
        train = ((ckpt.get("config") or {}).get("data") or {}).get("train")
        if not train or not isinstance(train, str):
            return None
        manifest = Path(train) / "manifest.json"
        if not manifest.is_file():
            return None
    path = Path(manifest)
    if path.is_dir():
        path = path / "manifest.json"
    if not path.is_file():
        raise ValueError(f"manifest not found: {path}")
    return json.loads(path.read_text())


def export_checkpoint(
    checkpoint: str | Path,
    out_dir: str | Path,
    *,
    name: str | None = None,
    hub_id: str | None = None,
    manifest: str | Path | None = None,
    report: str | Path | None = None,
) -> Path:
    """Write the portable open_clip folder for ``checkpoint`` into ``out_dir`` and return it.

    Args:
        checkpoint: a medclip trainer checkpoint (``.pt`` with ``name`` and ``state_dict``, or the ``.dcp``
            folder of a sharded FSDP2 checkpoint).
        out_dir: output folder (created; files of the same names are replaced).
        name: architecture name when the checkpoint does not record one.
        hub_id: the hub repository the folder will be uploaded to (``owner/name``); the text tower config
            then resolves from that repository. Required for text towers that are not on the hub.
        manifest: training shards' ``manifest.json`` (or its folder) for the model card (default: the
            checkpoint's ``data.train`` folder when it holds one).
        report: a ``medclip-eval`` ``report.json`` whose numbers go into the model card.

    Raises:
        ValueError: missing checkpoint/manifest/report, not a medclip checkpoint, or no usable hub id.
    """
    import torch
    from open_clip import get_model_preprocess_cfg
    from safetensors.torch import save_file

    from .export_card import model_card
    from .models import create_model, get_model_config
    from .train.checkpoint import is_sharded_checkpoint, load_checkpoint

    checkpoint = Path(checkpoint)
    if is_sharded_checkpoint(checkpoint):  # dist.strategy=fsdp: a .dcp folder, read whole (no process group)
        ckpt = load_checkpoint(checkpoint)
    elif not checkpoint.is_file():
        raise ValueError(f"checkpoint not found: {checkpoint}")
    else:
        ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise ValueError(f"{checkpoint} is not a medclip trainer checkpoint (no 'state_dict')")
    name = name or ckpt.get("name")
    if not name:
        raise ValueError(f"{checkpoint} records no model name; pass --name")
    report_data = None
    if report is not None:
        if not Path(report).is_file():
            raise ValueError(f"report not found: {report}")
        report_data = json.loads(Path(report).read_text())
    manifest_data = _manifest_for(ckpt, manifest)
    model_cfg = json.loads(json.dumps(get_model_config(name)))
    text_cfg = model_cfg.get("text_cfg", {})
    hf = bool(text_cfg.get("hf_model_name"))
    tower_id = _hub_id(name, hub_id) if hf else None
    state = {k[7:] if k.startswith("module.") else k: v.contiguous() for k, v in ckpt["state_dict"].items()}
    model, _, _ = create_model(name, pretrained_text=False)
    model.load_state_dict(state)  # strict: the weights must match the architecture
    pre = {k: (list(v) if isinstance(v, tuple) else v) for k, v in get_model_preprocess_cfg(model).items()}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer_source = text_cfg.get("hf_tokenizer_name")
    if hf:
        model.text.config.save_pretrained(out)  # the text tower's config.json (architecture only)
        hf_config = json.loads((out / "config.json").read_text())
        hf_config.pop("_name_or_path", None)  # the exporting machine's folder
        (out / "config.json").write_text(json.dumps(hf_config, indent=2, sort_keys=True) + "\n")
        if tokenizer_source:
            _copy_tokenizer(tokenizer_source, out)
        text_cfg["hf_model_name"] = tower_id
        text_cfg["hf_tokenizer_name"] = tower_id
        text_cfg.pop("hf_model_pretrained", None)
    save_file(state, str(out / "open_clip_model.safetensors"), metadata={"format": "pt", "medclip_name": name})
    meta = {"name": name, "step": ckpt.get("step"), "epoch": ckpt.get("epoch"), "hub_id": hub_id}
    config = {"model_cfg": model_cfg, "preprocess_cfg": pre, "medclip": meta}
    (out / "open_clip_config.json").write_text(json.dumps(config, indent=2) + "\n")
    n_params = sum(p.numel() for p in model.parameters())
    (out / "README.md").write_text(model_card(config, n_params, manifest_data, report_data))
    os.chmod(out, DIR_MODE)
    for p in out.iterdir():
        if p.is_file():
            os.chmod(p, FILE_MODE)
    return out


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``medclip-export``."""
    from .cli_common import HelpFormatter

    p = argparse.ArgumentParser(
        prog="medclip-export",
        description="Export a checkpoint as a portable open_clip folder.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("checkpoint", help="medclip trainer checkpoint (.pt, or a sharded .dcp folder)")
    p.add_argument("out_dir", help="output folder (created)")
    p.add_argument("--name", default=None, help="architecture name (default: the one stored in the checkpoint)")
    p.add_argument(
        "--hub-id",
        default=None,
        help="hub repository the folder will be uploaded to, OWNER/NAME (default: none; the text tower's public "
        "hub id is named instead, which towers not on the hub lack)",
    )
    p.add_argument(
        "--manifest",
        default=None,
        help="training shards' manifest.json or its folder, for the model card (default: the checkpoint's "
        "data.train folder when it has one)",
    )
    p.add_argument("--report", default=None, help="medclip-eval report.json for the model card (default: none)")
    return p


def cli(argv: list[str] | None = None) -> int:
    """``medclip-export CHECKPOINT OUT_DIR [--name NAME] [--hub-id OWNER/NAME] [--manifest M] [--report R]``."""
    args = build_parser().parse_args(argv)
    try:
        out = export_checkpoint(
            args.checkpoint,
            args.out_dir,
            name=args.name,
            hub_id=args.hub_id,
            manifest=args.manifest,
            report=args.report,
        )
    except (ValueError, RuntimeError, OSError) as e:
        print(f"medclip-export: error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    print(f"exported to {out} (load with open_clip.create_model_from_pretrained('local-dir:{out}'))")
    return 0


if __name__ == "__main__":
    sys.exit(cli())
