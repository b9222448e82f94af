"""A loaded model ready to serve: preprocessing, a micro-batcher, cached text classifiers, saliency."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from PIL import Image

from .batcher import MicroBatcher
from .classes import read_temperatures
from .config import ServeConfig


def _spec_path(spec: str) -> str | None:
    """The file or folder a model spec points at (where a calibration file would sit), else None."""
    if spec.startswith("local-dir:"):
        spec = spec[len("local-dir:") :]
    return spec if os.path.exists(spec) else None


class ModelRuntime:
    """One model: every torch call runs on its own single worker thread (one at a time, in order).

    Args:
        model_id: the id clients use (``GET /v1/models``).
        model, preprocess, tokenizer: as returned by :func:`medclip.models.load.load_model`.
        config: service limits (batch size, wait, cache size).
        name: architecture name; source: the spec it was loaded from (kept server-side, never returned).
    """

    def __init__(self, model_id, model, preprocess, tokenizer, config: ServeConfig, *, name="", source=None):
        self.id, self.name = model_id, name or model_id
        self.model, self.preprocess, self.tokenizer = model.eval(), preprocess, tokenizer
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"medclip-{model_id}")
        self.temperatures = read_temperatures(_spec_path(source) if source else None)
        self._cache: OrderedDict[tuple, torch.Tensor] = OrderedDict()
        self._cache_size = config.cache_size
        self._lock = threading.Lock()
        self.on_batch = None
        self.batcher = MicroBatcher(
            self._encode_batch,
            max_batch=config.max_batch,
            max_wait_s=config.max_wait_ms / 1000.0,
            executor=self.executor,
            on_batch=lambda n: self.on_batch and self.on_batch(n),
        )
        size = getattr(getattr(model, "visual", None), "image_size", 224)
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        self.embed_dim = int(self._encode_texts(["x"]).shape[-1])

    @classmethod
    def load(cls, spec: str, config: ServeConfig, *, model_id: str | None = None, pretrained=None, device="cpu"):
        """Load ``spec`` (checkpoint, export folder, open_clip name, ``hf-hub:``, ``local-dir:``)."""
        from medclip.models.load import load_model

        model, pre, tok, info = load_model(spec, pretrained=pretrained, device=device)
        return cls(model_id or str(info["name"]), model, pre, tok, config, name=str(info["name"]), source=spec)

    def public(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "embed_dim": self.embed_dim,
            "image_size": self.image_size,
            "calibrated_class_sets": sorted(self.temperatures),
        }

    # --- everything below runs on the worker thread -------------------------------------------------
    def to_tensor(self, image: Image.Image) -> torch.Tensor:
        return self.preprocess(image)

    @torch.no_grad()
    def _encode_batch(self, batch: torch.Tensor) -> torch.Tensor:
        emb = self.model.encode_image(batch.to(self.device, self.dtype))
        return torch.nn.functional.normalize(emb.float(), dim=-1).cpu()

    @torch.no_grad()
    def _encode_texts(self, texts: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(texts).to(self.device)
        return torch.nn.functional.normalize(self.model.encode_text(tokens).float(), dim=-1).cpu()

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        return torch.cat([self._encode_texts(texts[i : i + 256]) for i in range(0, len(texts), 256)])

    def classifier(self, prompts: tuple[tuple[str, ...], ...]) -> torch.Tensor:
        """``[C, D]`` unit class embeddings: each class's prompt embeddings averaged (cached per class set)."""
        with self._lock:
            hit = self._cache.get(prompts)
            if hit is not None:
                self._cache.move_to_end(prompts)
                return hit
        flat = [p for ps in prompts for p in ps]
        emb = self.encode_texts(flat)
        rows, i = [], 0
        for ps in prompts:
            rows.append(emb[i : i + len(ps)].mean(0))
            i += len(ps)
        w = torch.nn.functional.normalize(torch.stack(rows), dim=-1)
        with self._lock:
            self._cache[prompts] = w
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return w

    def logit_scale(self) -> float:
        return float(self.model.logit_scale.exp().item())

    def saliency(self, image: torch.Tensor, class_emb: torch.Tensor, classes: torch.Tensor, method: str) -> np.ndarray:
        """Saliency map of ``image`` for ``class_emb``; ``classes`` is the request's whole class set (the
        class-contrastive methods explain "this class rather than the others")."""
        from medclip.saliency import saliency_map

        x = image[None].to(self.device, self.dtype)
        cls = classes.to(self.device, self.dtype)
        return saliency_map(self.model, x, class_emb.to(self.device, self.dtype), method=method, classes=cls)

    def cache_size(self) -> int:
        return len(self._cache)
