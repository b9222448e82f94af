"""``ZeroShotClassifier``: classify images against class-name prompts with a CLIP-style model.

Scoring: each class is one unit-norm text embedding (its prompts averaged in normalized space by
:func:`medclip.zeroshot_head.build_text_classifier`); an image's logits are
``logit_scale.exp() * cos(image, class)``, and ``predict_proba`` is their softmax. UniMed-CLIP scores with the
plain cosine; the scale is a positive constant, so the argmax (and every ranking metric: AUC, top-k,
recall@K) is identical, while the probabilities use the temperature the model learned, which is what ECE
should measure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from medclip.zeroshot_head import build_text_classifier

ImageInput = Any  # PIL.Image | np.ndarray | torch.Tensor | a list of PIL images / arrays


def eval_transform(model: torch.nn.Module) -> Callable:
    """The open_clip evaluation transform (PIL image -> normalized tensor) described by ``model``."""
    import open_clip
    from open_clip.transform import PreprocessCfg, image_transform_v2

    cfg = dict(open_clip.get_model_preprocess_cfg(model))
    return image_transform_v2(PreprocessCfg(**cfg), is_train=False)


def to_pil(img: Image.Image | np.ndarray) -> Image.Image:
    """PIL image or numpy array (HxW or HxWxC; uint8 in [0, 255] or float in [0, 1]) -> PIL image.

    Float arrays are read as intensities in [0, 1] (values outside are clipped); use uint8 for 0-255 data.
    """
    if isinstance(img, Image.Image):
        return img
    if not isinstance(img, np.ndarray):
        raise TypeError(f"expected a PIL image, numpy array or tensor, got {type(img).__name__}")
    arr = img
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ValueError(f"image array must be HxW, HxWx1, HxWx3 or HxWx4, got shape {img.shape}")
    if arr.dtype == np.uint8:
        pass
    elif np.issubdtype(arr.dtype, np.floating):
        arr = (np.clip(np.nan_to_num(arr), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    elif np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool:
        if arr.dtype != bool and (arr.min() < 0 or arr.max() > 255):
            raise ValueError(f"integer image values must lie in [0, 255], got [{arr.min()}, {arr.max()}]")
        arr = arr.astype(np.uint8) * (255 if arr.dtype == bool else 1)
    else:
        raise ValueError(f"unsupported image dtype {arr.dtype}")
    return Image.fromarray(np.ascontiguousarray(arr)).convert("RGB")


class ZeroShotClassifier:
    """Zero-shot image classifier from class names and prompt templates.

    Args:
        model: open_clip-style model (``encode_image``, ``encode_text``, ``logit_scale``).
        tokenizer: list of strings -> token ids.
        classnames: one entry per class, either a name or a list of synonyms (the first is the display
            name). Every synonym is combined with every template.
        templates: prompt templates containing ``{}`` (or a single template string); a template without
            ``{}`` is used verbatim.
        device: where to run (defaults to the model's device).
        preprocess: PIL -> tensor transform; defaults to the model's open_clip evaluation transform.

    Example:
        >>> clf = ZeroShotClassifier(model, tok, [["pneumonia", "lung infection"], "normal"],
        ...                          ["a chest x-ray showing {}."])
        >>> clf.predict([pil_image])  # -> np.array([0])
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Callable[[list[str]], torch.Tensor],
        classnames: Sequence[str | Sequence[str]],
        templates: Sequence[str] | str,
        *,
        device: str | torch.device | None = None,
        preprocess: Callable | None = None,
    ) -> None:
        if isinstance(templates, str):
            templates = [templates]
        if len(templates) == 0:
            raise ValueError("templates is empty")
        self.model = model
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.preprocess = preprocess if preprocess is not None else eval_transform(model)
        self.classnames = [c if isinstance(c, str) else c[0] for c in classnames]
        self.class_prompts = [expand_prompts(c, templates) for c in classnames]
        self.class_embeddings = build_text_classifier(model, tokenizer, self.class_prompts, device=self.device)

    @property
    def logit_scale(self) -> float:
        """The model's multiplicative logit scale (``exp`` of its learned log-scale)."""
        return float(self.model.logit_scale.exp().item()) if hasattr(self.model, "logit_scale") else 1.0

    def _batch(self, images: ImageInput) -> torch.Tensor:
        if isinstance(images, torch.Tensor):
            x = images if images.ndim == 4 else images.unsqueeze(0)
            if x.ndim != 4:
                raise ValueError(f"tensor input must be CxHxW or NxCxHxW (preprocessed), got {tuple(images.shape)}")
            return x
        if isinstance(images, (Image.Image, np.ndarray)):
            images = [images]
        if len(images) == 0:
            raise ValueError("no images given")
        return torch.stack([self.preprocess(to_pil(im)) for im in images])

    @torch.no_grad()
    def image_features(self, images: ImageInput, batch_size: int = 128) -> torch.Tensor:
        """Unit-norm image embeddings ``(N, d)`` (float32, on the classifier's device)."""
        x = self._batch(images)
        out = []
        for i in range(0, x.shape[0], batch_size):
            f = self.model.encode_image(x[i : i + batch_size].to(self.device, non_blocking=True))
            out.append(F.normalize(f.float(), dim=-1))
        return torch.cat(out)

    def cosine(self, images: ImageInput) -> np.ndarray:
        """Cosine similarity of each image to each class, ``(N, C)``."""
        return (self.image_features(images) @ self.class_embeddings.T).cpu().numpy()

    def logits(self, images: ImageInput) -> np.ndarray:
        """``logit_scale * cosine``, ``(N, C)``."""
        return self.logit_scale * self.cosine(images)

    def predict_proba(self, images: ImageInput) -> np.ndarray:
        """Softmax over the scaled logits, ``(N, C)``; rows sum to 1."""
        return torch.softmax(torch.from_numpy(self.logits(images)).double(), dim=1).numpy()

    def predict(self, images: ImageInput) -> np.ndarray:
        """Predicted class index per image, ``(N,)``."""
        return self.cosine(images).argmax(axis=1)


def expand_prompts(classname: str | Sequence[str], templates: Sequence[str]) -> list[str]:
    """Every synonym of a class combined with every template (synonyms outer, templates inner)."""
    names = [classname] if isinstance(classname, str) else list(classname)
    if not names:
        raise ValueError("a class has no names")
    return [t.format(n) if "{}" in t else t for n in names for t in templates]
