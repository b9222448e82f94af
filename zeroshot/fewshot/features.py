"""Frozen image features for few-shot runs: eval-transform features and cached augmented views.

Every few-shot method trains on top of a frozen image tower, so each (image, augmentation view) is encoded
once and reused by every epoch, method, K and seed of a run — the dominant cost on CPU otherwise.
A view is a deterministic random resized crop (seeded by the image key and view index; spec §4 train
augmentation: scale (0.08, 1), bicubic, optional flip) followed by the model's own normalization.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms import InterpolationMode, RandomResizedCrop
from torchvision.transforms import functional as TF

from ..data import make_loader, read_image


def _normalize_of(preprocess):
    for t in getattr(preprocess, "transforms", []):
        if type(t).__name__ == "Normalize":
            return list(t.mean), list(t.std)
    return [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]


class FeatureStore:
    """Encode and cache image features of one model.

    Args:
        model: the frozen CLIP model (``encode_image``).
        preprocess: its eval transform (resize + center crop + normalize).
        device: where to encode.
        batch_size: images per forward.
        min_scale: lower bound of the random-resized-crop area scale.
        flip: add a random horizontal flip (``aug: coop_original``).
        workers: decoding processes for the eval-transform loader.
    """

    def __init__(
        self,
        model,
        preprocess,
        *,
        device="cpu",
        batch_size: int = 128,
        min_scale: float = 0.08,
        flip: bool = False,
        workers: int = 0,
    ) -> None:
        self.model, self.preprocess, self.device = model, preprocess, torch.device(device)
        self.batch_size, self.workers = batch_size, workers
        size = getattr(model.visual, "image_size", 224)
        self.size = size if isinstance(size, int) else int(size[0])
        self.mean, self.std = _normalize_of(preprocess)
        self.scale, self.flip = (min_scale, 1.0), flip
        self._views: dict[tuple, torch.Tensor] = {}
        self._eval: dict[str, torch.Tensor] = {}
        self.encoded_images = 0

    @torch.no_grad()
    def encode(self, batch: torch.Tensor) -> torch.Tensor:
        """Unit-norm float32 features of a preprocessed batch (model in eval mode)."""
        self.model.eval()
        self.encoded_images += len(batch)
        return F.normalize(self.model.encode_image(batch.to(self.device)).float(), dim=-1).cpu()

    def augment(self, img: Image.Image, seed: int | None, aug: tuple[float, bool] | None = None) -> torch.Tensor:
        """One training view: random resized crop (+ flip), bicubic resize, normalize."""
        min_scale, do_flip = aug if aug is not None else (self.scale[0], self.flip)
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            i, j, h, w = RandomResizedCrop.get_params(img, (min_scale, 1.0), (3 / 4, 4 / 3))
            flip = do_flip and bool(torch.rand(()) < 0.5)
        out = TF.resized_crop(img, i, j, h, w, [self.size, self.size], InterpolationMode.BICUBIC)
        if flip:
            out = TF.hflip(out)
        return TF.normalize(TF.to_tensor(out), self.mean, self.std)

    def eval_features(self, sources: Sequence, keys: Sequence[str]) -> torch.Tensor:
        """Features ``(N, d)`` with the eval transform, cached per key."""
        missing = [i for i, k in enumerate(keys) if k not in self._eval]
        if missing:
            loader = make_loader(
                [sources[i] for i in missing], self.preprocess, batch_size=self.batch_size, workers=self.workers
            )
            feats = torch.cat([self.encode(x) for x, _ in loader])
            for i, f in zip(missing, feats):
                self._eval[keys[i]] = f
        return torch.stack([self._eval[k] for k in keys])

    def view_features(
        self,
        sources: Sequence,
        keys: Sequence[str],
        n_views: int,
        *,
        min_scale: float | None = None,
        flip: bool | None = None,
    ) -> torch.Tensor:
        """Features ``(V, N, d)`` of ``n_views`` deterministic augmented views of each image, cached.

        ``min_scale`` / ``flip`` override the store's augmentation (views are cached per setting).
        """
        aug = (self.scale[0] if min_scale is None else float(min_scale), self.flip if flip is None else bool(flip))
        todo = [(i, v) for v in range(n_views) for i, k in enumerate(keys) if (k, v, aug) not in self._views]
        for s in range(0, len(todo), self.batch_size):
            chunk = todo[s : s + self.batch_size]
            imgs = {i: read_image(sources[i]) for i in {i for i, _ in chunk}}
            batch = torch.stack([self.augment(imgs[i], view_seed(keys[i], v), aug) for i, v in chunk])
            for (i, v), f in zip(chunk, self.encode(batch)):
                self._views[(keys[i], v, aug)] = f
        return torch.stack([torch.stack([self._views[(k, v, aug)] for k in keys]) for v in range(n_views)])

    def online_features(self, sources: Sequence):
        """A ``(idx, epoch) -> (B, d)`` callable that decodes, augments and encodes every step (no cache)."""

        def fn(idx: torch.Tensor, epoch: int) -> torch.Tensor:
            batch = torch.stack([self.augment(read_image(sources[int(i)]), None) for i in idx])
            return self.encode(batch)

        return fn


def view_seed(key: str, view: int) -> int:
    """Seed of one augmented view of one image (stable across runs and processes)."""
    return zlib.crc32(f"{key}|{view}".encode()) & 0x7FFFFFFF
