"""One model loader for every tool: a medclip checkpoint file or a model name (+ pretrained weights)."""

from __future__ import annotations

import os


def load_model(model: str, pretrained: str | None = None, device: str = "cpu", precision: str = "fp32"):
    """Load a model with its preprocessing, tokenizer and a description of where it came from.

    Args:
        model: a medclip checkpoint path, or a model name ``create_model`` accepts (an open_clip name,
            ``hf-hub:...``, ``local-dir:...``).
        pretrained: weights for a model name (ignored for a checkpoint path).
        device: torch device string.
        precision: ``fp32``, ``fp16``, ``bf16``, ...

    Returns:
        ``(model, preprocess, tokenizer, info)`` where ``info`` has ``id``, ``name`` and ``pretrained``.

    Raises:
        ValueError: ``model`` looks like a checkpoint path but no such file exists.
    """
    from . import create_model, create_model_from_checkpoint, read_checkpoint_name

    if os.path.isfile(model):
        name = read_checkpoint_name(model)
        m, pre, tok = create_model_from_checkpoint(model, device=device, precision=precision)
        return m, pre, tok, {"id": model, "name": name, "pretrained": model}
    schema = model.startswith(("hf-hub:", "local-dir:"))
    if not schema and (model.endswith((".pt", ".pth", ".bin", ".safetensors")) or os.sep in model):
        raise ValueError(f"model checkpoint not found: {model}")
    m, pre, tok = create_model(model, pretrained=pretrained, device=device, precision=precision)
    ident = model if pretrained is None else f"{model}@{pretrained}"
    return m, pre, tok, {"id": ident, "name": model, "pretrained": pretrained}
