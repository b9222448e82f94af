"""Speed / memory options applied to a built model: per-block checkpointing, compiled towers, channels-last.

All three leave the state-dict keys unchanged (compile is done in place with ``nn.Module.compile``), so
checkpoints written with any of them on load into a model built with them off. Measured on CPU in
``bench/train_options.py`` (figures in docs/training.md, "Checkpointing, compile, channels-last").
"""

from __future__ import annotations

import torch


def _towers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The image tower and the text tower (``text`` for CustomTextCLIP, ``transformer`` for CLIP)."""
    text = getattr(model, "text", None)
    if text is None:
        text = getattr(model, "transformer", None)
    return [t for t in (getattr(model, "visual", None), text) if t is not None]


def enable_grad_checkpointing(model: torch.nn.Module) -> None:
    """Activation checkpointing per transformer block in both towers (non-reentrant for HF text towers)."""
    model.visual.set_grad_checkpointing(True)
    text = getattr(model, "text", None)
    hf = getattr(text, "transformer", None)
    kw = {"use_reentrant": False}
    if hf is not None and hasattr(hf, "activation_checkpointing_enable"):  # open_clip HFTextEncoder, transformers 5
        hf.activation_checkpointing_enable(activation_checkpointing_kwargs=kw)
    elif hf is not None and hasattr(hf, "gradient_checkpointing_enable"):  # older transformers
        hf.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kw)
    elif text is not None:
        text.set_grad_checkpointing(True)
    else:  # open_clip CLIP: the text transformer is a direct child
        model.transformer.grad_checkpointing = True


def compile_towers(model: torch.nn.Module) -> None:
    """``torch.compile`` the image and text towers in place (the loss and the module wrapper stay eager).

    Raises:
        RuntimeError: this torch build cannot compile (one line naming the cause).
    """
    if not hasattr(torch, "compile") or not hasattr(torch.nn.Module, "compile"):
        raise RuntimeError("model.compile=true needs torch >= 2.2 (torch.compile)")
    for tower in _towers(model):
        tower.compile()


def _visual_to_channels_last(module, args, kwargs):
    if args and isinstance(args[0], torch.Tensor) and args[0].dim() == 4:
        args = (args[0].contiguous(memory_format=torch.channels_last), *args[1:])
    return args, kwargs


def use_channels_last(model: torch.nn.Module) -> None:
    """4-D weights in channels-last and image batches converted to it on entry to the image tower."""
    model.to(memory_format=torch.channels_last)
    model.visual.register_forward_pre_hook(_visual_to_channels_last, with_kwargs=True)
