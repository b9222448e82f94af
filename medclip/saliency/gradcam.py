"""Grad-CAM (Selvaraju et al., 2017, "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
Localization", ICCV) on patch tokens of open_clip's VisionTransformer, with two measured variants.

Why this method: it is cheap (one forward and one backward pass per class), class-specific (the gradient
of the class score depends on the class text embedding, so different prompts give different maps) and
needs no attention weights, so it works with fused attention kernels.

Why the *input* of a block rather than the last block's output: with class-token pooling (open_clip's
default ``pool_type="tok"``) the pooled embedding reads only the class token of the last block's output, so
the gradient of the score with respect to that block's output *patch* tokens is exactly zero. The tokens
entering block ``k`` are the output of block ``k - 1``; ``blocks=(-1,)`` is the usual ViT Grad-CAM target
(``blocks[-1].norm1``).

Variants (``docs/saliency.md`` has the measured table):

- ``target="contrast"``: the score is the class logit minus the logsumexp of the other classes' logits
  (the log-softmax of the class up to a constant) instead of the raw class similarity, so the part of the
  gradient shared by every class prompt (the common "medical image" direction of CLIP text embeddings)
  cancels; needs ``classes`` (the zero-shot classifier's rows);
- ``weighting="token"``: gradient x activation per token instead of mean-gradient channel weights;
- ``blocks=(...)``: several blocks, each block's map ReLU'd and max-normalised, then averaged.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
import torch.nn.functional as F

from medclip.saliency.registry import SALIENCY


def _vision_tower(model: torch.nn.Module) -> torch.nn.Module:
    visual = getattr(model, "visual", None)
    blocks = getattr(getattr(visual, "transformer", None), "resblocks", None)
    if visual is None or blocks is None or not hasattr(visual, "grid_size"):
        raise ValueError("gradcam needs an open_clip model whose image tower is a VisionTransformer")
    return visual


def class_score(
    model: torch.nn.Module,
    img: torch.Tensor,
    text_embedding: torch.Tensor,
    classes: torch.Tensor | None = None,
    target: str = "similarity",
) -> torch.Tensor:
    """Scalar score to differentiate: ``scale * cos(img, text)`` or its contrast against the other classes.

    Args:
        model: the CLIP model (for ``logit_scale``).
        img: unit-norm image embedding ``[D]``.
        text_embedding: class text embedding ``[D]``.
        classes: ``[C, D]`` class embeddings; rows parallel to ``text_embedding`` are not "others".
        target: ``"similarity"`` or ``"contrast"`` (logit minus logsumexp of the other classes' logits).
    """
    scale = model.logit_scale.exp()
    txt = F.normalize(text_embedding.detach().to(img), dim=-1)
    logit = scale * (img @ txt)
    if target == "similarity":
        return logit
    if target != "contrast":
        raise ValueError(f"unknown Grad-CAM target {target!r}; use 'similarity' or 'contrast'")
    if classes is None or classes.ndim != 2 or classes.shape[1] != txt.shape[0]:
        raise ValueError("target='contrast' needs classes=[C, D], the zero-shot classifier's class embeddings")
    cls = F.normalize(classes.detach().to(img), dim=-1)
    others = cls[(cls @ txt) < 1 - 1e-4]
    if len(others) == 0:
        raise ValueError("target='contrast' needs at least one class other than the target")
    return logit - torch.logsumexp(scale * (others @ img), dim=0)


def gradcam_grid(
    model: torch.nn.Module,
    image: torch.Tensor,
    text_embedding: torch.Tensor,
    *,
    classes: torch.Tensor | None = None,
    target: str = "similarity",
    blocks: Sequence[int] = (-1,),
    weighting: str = "mean",
) -> torch.Tensor:
    """Grad-CAM on the patch grid, before upsampling and normalisation.

    Args:
        model: open_clip CLIP-style model (``encode_image``, ``logit_scale``, ViT ``visual``).
        image: preprocessed image, shape ``[1, 3, H, W]``.
        text_embedding: class text embedding, shape ``[D]`` (normalised here).
        classes: ``[C, D]`` class embeddings, needed by ``target="contrast"``.
        target: see :func:`class_score`.
        blocks: indices of the blocks whose *input* patch tokens are used; with more than one, the
            per-block ReLU maps are max-normalised and averaged.
        weighting: ``"mean"`` (Grad-CAM: channel weights are the gradient's mean over the patch tokens) or
            ``"token"`` (gradient x activation per token, summed over channels, before the ReLU).

    Returns:
        Non-negative float tensor of shape ``grid_size`` (rows, cols).
    """
    if weighting not in ("mean", "token"):
        raise ValueError(f"unknown Grad-CAM weighting {weighting!r}; use 'mean' or 'token'")
    visual = _vision_tower(model)
    resblocks = visual.transformer.resblocks
    idx = sorted({b % len(resblocks) for b in blocks})
    batch_first = getattr(visual.transformer, "batch_first", True)
    grid_h, grid_w = visual.grid_size
    captured: dict[int, torch.Tensor] = {}

    def make_hook(i: int):
        def hook(_module: torch.nn.Module, args: tuple) -> None:
            captured[i] = args[0]

        return hook

    handles = [resblocks[i].register_forward_pre_hook(make_hook(i)) for i in idx]
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            x = image.detach().clone().requires_grad_(True)  # grads flow even when the weights are frozen
            img = F.normalize(model.encode_image(x), dim=-1)[0]
            score = class_score(model, img, text_embedding, classes, target)
            tokens = [captured[i] for i in idx]
            grads = torch.autograd.grad(score, tokens)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    n_patch = grid_h * grid_w
    cams = []
    for tok, grad in zip(tokens, grads):
        if not batch_first:
            tok, grad = tok.transpose(0, 1), grad.transpose(0, 1)
        acts, g = tok[0, -n_patch:].detach(), grad[0, -n_patch:]  # drop class / register tokens
        if weighting == "mean":
            cams.append(torch.relu(acts @ g.mean(dim=0)))  # channel weights: spatial mean of the gradient
        else:
            cams.append(torch.relu((acts * g).sum(dim=1)))
    if len(cams) == 1:
        cam = cams[0]
    else:
        cam = torch.stack([c / c.max() if c.max() > 0 else c for c in cams]).mean(dim=0)
    return cam.reshape(grid_h, grid_w)


def to_image(cam: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Bilinear-upsample a grid map to the image size and min-max it to [0, 1] (zeros for a flat map)."""
    up = F.interpolate(cam[None, None], size=tuple(image.shape[-2:]), mode="bilinear", align_corners=False)[0, 0]
    up = up - up.min()
    peak = up.max()
    if peak <= 0:
        return torch.zeros_like(up)
    # quantised to 1e-6: the clamped borders of the upsampled map are flat plateaus, and float noise between
    # two runs (e.g. a class embedding normalised or not) would otherwise move the argmax within one
    return torch.round(up / peak * 1e6) / 1e6


def gradcam(
    model: torch.nn.Module,
    image: torch.Tensor,
    text_embedding: torch.Tensor,
    *,
    classes: torch.Tensor | None = None,
    target: str = "similarity",
    blocks: Sequence[int] = (-1,),
    weighting: str = "mean",
) -> torch.Tensor:
    """Grad-CAM map at image resolution, normalised to [0, 1] (all zeros when the ReLU map is zero).

    Args:
        model: open_clip CLIP-style model with a ViT image tower.
        image: preprocessed image, shape ``[1, 3, H, W]``.
        text_embedding: class text embedding, shape ``[D]``.
        classes, target, blocks, weighting: see :func:`gradcam_grid`.

    Returns:
        Float tensor ``[H, W]`` in [0, 1].
    """
    cam = gradcam_grid(model, image, text_embedding, classes=classes, target=target, blocks=blocks, weighting=weighting)
    return to_image(cam, image)


SALIENCY.register("gradcam", gradcam, paper="Selvaraju et al. 2017", passes=1, needs_classes=False)
SALIENCY.register(
    "gradcam-contrast", partial(gradcam, target="contrast"), paper="Selvaraju et al. 2017", passes=1, needs_classes=True
)
