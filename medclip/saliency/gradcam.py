"""Grad-CAM (Selvaraju et al., 2017, "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
Localization", ICCV) on the patch tokens entering the last block of open_clip's VisionTransformer.

Why this method: it is cheap (one forward and one backward pass per class), class-specific (the gradient
of the class score depends on the class text embedding, so different prompts give different maps) and
needs no attention weights, so it works with fused attention kernels.

Why the *input* of the last block rather than its output: with class-token pooling (open_clip's default
``pool_type="tok"``) the pooled embedding reads only the class token of the last block's output, so the
gradient of the score with respect to that block's output *patch* tokens is exactly zero. The tokens
entering the last block are the latest patch tokens that the score depends on (the usual ViT Grad-CAM
target, ``blocks[-1].norm1``); for average pooling they work as well.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from medclip.saliency.registry import SALIENCY


def _vision_tower(model: torch.nn.Module) -> torch.nn.Module:
    visual = getattr(model, "visual", None)
    blocks = getattr(getattr(visual, "transformer", None), "resblocks", None)
    if visual is None or blocks is None or not hasattr(visual, "grid_size"):
        raise ValueError("gradcam needs an open_clip model whose image tower is a VisionTransformer")
    return visual


def gradcam_grid(model: torch.nn.Module, image: torch.Tensor, text_embedding: torch.Tensor) -> torch.Tensor:
    """Grad-CAM on the patch grid, before upsampling and normalisation.

    Args:
        model: open_clip CLIP-style model (``encode_image``, ``logit_scale``, ViT ``visual``).
        image: preprocessed image, shape ``[1, 3, H, W]``.
        text_embedding: class text embedding, shape ``[D]`` (normalised here).

    Returns:
        Non-negative float tensor of shape ``grid_size`` (rows, cols).
    """
    visual = _vision_tower(model)
    block = visual.transformer.resblocks[-1]
    batch_first = getattr(visual.transformer, "batch_first", True)
    grid_h, grid_w = visual.grid_size
    captured: list[torch.Tensor] = []

    def hook(_module: torch.nn.Module, args: tuple) -> None:
        captured.append(args[0])

    handle = block.register_forward_pre_hook(hook)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            x = image.detach().clone().requires_grad_(True)  # grads flow even when the weights are frozen
            img = F.normalize(model.encode_image(x), dim=-1)[0]
            txt = F.normalize(text_embedding.detach().to(img), dim=-1)
            score = model.logit_scale.exp() * (img @ txt)
            tokens = captured[-1]
            (grad,) = torch.autograd.grad(score, tokens)
    finally:
        handle.remove()
        model.train(was_training)
    if not batch_first:
        tokens, grad = tokens.transpose(0, 1), grad.transpose(0, 1)
    n_patch = grid_h * grid_w
    acts, grads = tokens[0, -n_patch:].detach(), grad[0, -n_patch:]  # drop class / register tokens
    weights = grads.mean(dim=0)  # [C]: spatial mean of the gradient over patch tokens
    cam = torch.relu(acts @ weights)  # [N]
    return cam.reshape(grid_h, grid_w)


@SALIENCY.register("gradcam", paper="Selvaraju et al. 2017", passes=1)
def gradcam(model: torch.nn.Module, image: torch.Tensor, text_embedding: torch.Tensor) -> torch.Tensor:
    """Grad-CAM map at image resolution, normalised to [0, 1] (all zeros when the ReLU map is zero).

    Args:
        model: open_clip CLIP-style model with a ViT image tower.
        image: preprocessed image, shape ``[1, 3, H, W]``.
        text_embedding: class text embedding, shape ``[D]``.

    Returns:
        Float tensor ``[H, W]`` in [0, 1].
    """
    cam = gradcam_grid(model, image, text_embedding)
    up = F.interpolate(cam[None, None], size=tuple(image.shape[-2:]), mode="bilinear", align_corners=False)[0, 0]
    up = up - up.min()
    peak = up.max()
    return up / peak if peak > 0 else torch.zeros_like(up)
