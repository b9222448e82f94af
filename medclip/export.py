"""``medclip-export``: a trainer checkpoint -> an open_clip ``local-dir`` / HF-hub style folder.

The folder holds ``open_clip_config.json`` (``model_cfg`` = the resolved architecture, ``preprocess_cfg``
= size / mean / std / interpolation / resize mode) and ``open_clip_model.safetensors`` (weights), plus the
tokenizer files for HF text towers. It loads with plain open_clip::

    model, preprocess = open_clip.create_model_from_pretrained("local-dir:exported/")
    tokenizer = open_clip.get_tokenizer("local-dir:exported/")

HF text towers are rebuilt from ``text_cfg.hf_model_name`` before the weights are loaded: a hub id works
anywhere, a local folder (such as the demo's MiniLM) must exist on the loading machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

_TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def export_checkpoint(checkpoint: str | Path, out_dir: str | Path, *, name: str | None = None) -> Path:
    """Write the ``local-dir`` folder for ``checkpoint`` into ``out_dir`` and return it.

    Args:
        checkpoint: a medclip trainer checkpoint (``.pt`` with ``name`` and ``state_dict``).
        out_dir: output folder (created; existing files of the same names are replaced).
        name: architecture name when the checkpoint does not record one.
    """
    import torch
    from open_clip import get_model_preprocess_cfg
    from safetensors.torch import save_file

    from .models import create_model, get_model_config

    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise ValueError(f"checkpoint not found: {checkpoint}")
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise ValueError(f"{checkpoint} is not a medclip trainer checkpoint (no 'state_dict')")
    name = name or ckpt.get("name")
    if not name:
        raise ValueError(f"{checkpoint} records no model name; pass --name")
    model_cfg = json.loads(json.dumps(get_model_config(name)))
    state = {k[7:] if k.startswith("module.") else k: v.contiguous() for k, v in ckpt["state_dict"].items()}
    model, _, _ = create_model(name, pretrained_text=False)
    model.load_state_dict(state)  # strict: the weights must match the architecture
    pre = {k: (list(v) if isinstance(v, tuple) else v) for k, v in get_model_preprocess_cfg(model).items()}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out / "open_clip_model.safetensors"), metadata={"format": "pt", "medclip_name": name})
    with open(out / "open_clip_config.json", "w") as f:
        json.dump(
            {
                "model_cfg": model_cfg,
                "preprocess_cfg": pre,
                "medclip": {"name": name, "step": ckpt.get("step"), "epoch": ckpt.get("epoch")},
            },
            f,
            indent=2,
        )
    tok = model_cfg.get("text_cfg", {}).get("hf_tokenizer_name")
    if tok and Path(tok).is_dir():
        for fn in _TOKENIZER_FILES:
            if (Path(tok) / fn).is_file():
                shutil.copy2(Path(tok) / fn, out / fn)
    return out


def cli(argv: list[str] | None = None) -> None:
    """``medclip-export CHECKPOINT OUT_DIR [--name NAME]``."""
    p = argparse.ArgumentParser(prog="medclip-export", description="Export a checkpoint as an open_clip folder.")
    p.add_argument("checkpoint")
    p.add_argument("out_dir")
    p.add_argument("--name", default=None, help="architecture name (default: the one stored in the checkpoint)")
    args = p.parse_args(argv)
    try:
        out = export_checkpoint(args.checkpoint, args.out_dir, name=args.name)
    except (ValueError, RuntimeError) as e:
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        sys.exit(2)
    print(f"exported to {out} (load with open_clip.create_model_from_pretrained('local-dir:{out}'))")


if __name__ == "__main__":
    cli()
