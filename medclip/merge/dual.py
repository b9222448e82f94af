"""The fast exact per-sample merge engine: one batched pass evaluating every differing op with both weights.

``DualEngine(pair, mode="dual")`` computes, for a batch with per-sample coefficients ``lam`` (weight on the
base model), exactly what the per-sample merged models ``theta_i = lerp(theta_e, theta_b, lam_i)`` compute
(spec section 5), without building any merged state dict. ``mode="delta"`` evaluates
``op(h; theta_e) + lam_i * op(h; theta_b - theta_e)`` instead, with optional low-rank (LoRA) deltas.

While a call runs, the forwards of the modules whose parameters differ are overridden on the expert
model's instances (and restored afterwards); parameter-free code is the stock open_clip / timm / HF code.
When every ``lam`` is 0 (or every one is 1) the stock expert (base) model is called: bit-identical output.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from open_clip import model as oc_model
from open_clip import transformer as oc_tf
from timm.models.vision_transformer import VisionTransformer as TimmViT
from torch import nn

from . import dual_ops
from .dual_ops import LEAF_PARAMS, LowRank
from .pair import LOGIT_KEYS, MergeError, MergePair

# Modules whose *direct* parameters the tower functions handle.
DIRECT_PARAMS: dict[type, tuple[str, ...]] = {
    oc_tf.VisionTransformer: ("class_embedding", "positional_embedding", "proj"),
    oc_model.CLIP: ("positional_embedding", "text_projection", *LOGIT_KEYS),
    oc_model.CustomTextCLIP: LOGIT_KEYS,
    TimmViT: ("cls_token", "reg_token", "pos_embed"),
}


class DualEngine:
    """Exact per-sample merging of a :class:`MergePair` (modes ``dual`` and ``delta``).

    Args:
        pair: the validated base / expert pair.
        mode: ``dual`` (exact at lam in {0, 1}) or ``delta`` (exact at lam = 0; cheap for low-rank deltas).
        lowrank: for ``delta``, optional ``{state-dict key: LowRank}`` with ``theta_b - theta_e = b @ a``.
    """

    def __init__(self, pair: MergePair, *, mode: str = "dual", lowrank: dict[str, LowRank] | None = None):
        if mode not in ("dual", "delta"):
            raise MergeError(f"engine mode must be 'dual' or 'delta', got {mode!r}")
        if lowrank and mode != "delta":
            raise MergeError("low-rank deltas are only used by the 'delta' engine")
        self.pair, self.mode, self.model = pair, mode, pair.expert
        lowrank = dict(lowrank or {})
        unknown = sorted(set(lowrank) - set(pair.differing))
        if unknown:
            raise MergeError(f"low-rank deltas given for keys that do not differ: {unknown[:10]}")
        names = {id(m): n for n, m in self.model.named_modules()}
        self._names = names
        self._other: dict[tuple[int, str], object] = {}
        self._leaves: dict[str, nn.Module] = {}
        unsupported = []
        modules = dict(self.model.named_modules())
        out_projs = {id(m.out_proj): n for n, m in modules.items() if isinstance(m, nn.MultiheadAttention)}
        for key in pair.differing:
            mod_name, _, pname = key.rpartition(".")
            mod = modules[mod_name]
            if mode == "dual":
                other = pair.base_sd[key]
            else:
                other = lowrank.get(key, pair.base_sd[key] - pair.expert_sd[key])
            self._other[(id(mod), pname)] = other
            if id(mod) in out_projs and pname in ("weight", "bias"):
                self._leaves[out_projs[id(mod)]] = modules[out_projs[id(mod)]]  # decomposed with its MHA
            elif pname in LEAF_PARAMS.get(type(mod), ()):
                self._leaves[mod_name] = mod
            elif pname not in DIRECT_PARAMS.get(type(mod), ()):
                unsupported.append(f"{key} ({type(mod).__name__})")
        if unsupported:
            raise MergeError(
                "the dual engine does not support these differing parameters (no silent approximation): "
                + ", ".join(unsupported)
            )
        for name, mod in self._leaves.items():
            if isinstance(mod, nn.Conv2d) and mod.padding_mode != "zeros":
                raise MergeError(f"dual engine: Conv2d {name!r} uses padding_mode={mod.padding_mode!r}")
            if isinstance(mod, nn.Embedding) and mod.max_norm is not None:
                raise MergeError(f"dual engine: Embedding {name!r} uses max_norm")
            if isinstance(mod, nn.MultiheadAttention) and not mod._qkv_same_embed_dim:
                raise MergeError(f"dual engine: MultiheadAttention {name!r} has separate q/k/v weights")
            if isinstance(mod, nn.MultiheadAttention) and (mod.bias_k is not None or mod.bias_v is not None):
                raise MergeError(f"dual engine: MultiheadAttention {name!r} has bias_k / bias_v")
        self._lam: torch.Tensor | None = None
        self._touched: set[int] = set()
        self.calls = 0

    # -- helpers used by dual_ops -------------------------------------------------------------------
    def other_param(self, mod: nn.Module, pname: str):
        """The other side's parameter (base in dual mode, delta or None in delta mode)."""
        key = (id(mod), pname)
        if key in self._other:
            return self._other[key]
        return None if self.mode == "delta" else getattr(mod, pname)

    def differs(self, mod: nn.Module, *pnames: str) -> bool:
        """True when any of ``mod``'s named parameters differs between the models."""
        return any((id(mod), p) in self._other for p in pnames)

    def touch(self, mod: nn.Module) -> None:
        """Record that a differing module was evaluated by the dual code."""
        self._touched.add(id(mod))

    def _lam_view(self, y: torch.Tensor) -> torch.Tensor:
        lam = self._lam
        if y.shape[0] not in (lam.shape[0], 1):
            raise RuntimeError(f"dual engine: activation batch {y.shape[0]} != {lam.shape[0]} coefficients")
        return lam.view(-1, *([1] * (y.dim() - 1))).to(y.dtype)

    def mix(self, y_e: torch.Tensor, y_o: torch.Tensor) -> torch.Tensor:
        """Per-sample ``lerp(y_e, y_b, lam)`` (dual) or ``y_e + lam * y_delta`` (delta)."""
        w = self._lam_view(y_e)
        if self.mode == "dual":
            return torch.lerp(y_e, y_o, w)
        return torch.addcmul(y_e, w, y_o)

    def param(self, mod: nn.Module, pname: str) -> torch.Tensor:
        """A direct parameter: shared when identical, else per-sample ``(N, *shape)`` (leading 1 dropped)."""
        own = getattr(mod, pname)
        key = (id(mod), pname)
        if key not in self._other:
            return own
        self._touched.add(key)
        other = dual_ops.dense(self._other[key], own)
        own1 = own.unsqueeze(0) if own.dim() == 0 or own.shape[0] != 1 else own
        oth1 = other.unsqueeze(0) if other.dim() == 0 or other.shape[0] != 1 else other
        return self.mix(own1, oth1)

    def matmul(self, mod: nn.Module, pname: str, x: torch.Tensor) -> torch.Tensor:
        """``x @ P`` for a direct projection matrix ``P``, mixed per sample."""
        own = getattr(mod, pname)
        key = (id(mod), pname)
        if key not in self._other:
            return x @ own
        self._touched.add(key)
        return self.mix(x @ own, x @ dual_ops.dense(self._other[key], own))

    # -- overriding forwards ------------------------------------------------------------------------
    def _leaf_forward(self, mod: nn.Module):
        def forward(x, *args, **kwargs):
            self._touched.add(id(mod))
            y_e = type(mod).forward(mod, x, *args, **kwargs)
            p = {n: self.other_param(mod, n) for n in LEAF_PARAMS[type(mod)] if hasattr(mod, n)}
            return self.mix(y_e, dual_ops.leaf_other(mod, x, p, self.mode == "delta"))

        return forward

    @contextlib.contextmanager
    def _active(self, lam: torch.Tensor) -> Iterator[None]:
        self._lam = lam
        patched = []
        try:
            for mod in self._leaves.values():
                if isinstance(mod, nn.MultiheadAttention):
                    mod.forward = lambda *a, _m=mod, **k: dual_ops.mha_forward(self, _m, *a, **k)
                else:
                    mod.forward = self._leaf_forward(mod)
                patched.append(mod)
            trunk = getattr(self.model.visual, "trunk", None)
            if isinstance(trunk, TimmViT) and any(k[0] == id(trunk) for k in self._other):
                if getattr(trunk, "dynamic_img_size", False):
                    raise MergeError("dual engine: timm ViT with dynamic_img_size and differing tokens")
                trunk._pos_embed = lambda x, _t=trunk: dual_ops.timm_pos_embed(self, _t, x)
                patched.append(trunk)
            yield
        finally:
            for mod in patched:
                mod.__dict__.pop("forward", None)
                mod.__dict__.pop("_pos_embed", None)
            self._lam = None

    def _check_coverage(self, prefix_is_visual: bool) -> None:
        missed = []
        for (mid, pname), _ in self._other.items():
            name = self._names[mid]
            in_visual = name.startswith("visual")
            if in_visual != prefix_is_visual or pname in LOGIT_KEYS:
                continue
            if mid not in self._touched and (mid, pname) not in self._touched:
                missed.append(f"{name}.{pname}" if name else pname)
        if missed:
            raise MergeError("differing parameters never reached by the dual engine: " + ", ".join(missed[:20]))

    # -- public API ---------------------------------------------------------------------------------
    def _endpoint(self, lam: torch.Tensor) -> nn.Module | None:
        if bool((lam == 0).all()):
            return self.pair.expert
        if bool((lam == 1).all()) and self.mode == "dual":
            return self.pair.base
        return None

    @torch.no_grad()
    def encode_image(self, images: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
        """Unit-norm image features of the per-sample merged models, ``(N, d)``."""
        lam = torch.as_tensor(lam, dtype=torch.float32, device=images.device).flatten()
        stock = self._endpoint(lam) if self.pair.vision_differs else self.pair.expert
        if stock is not None:
            return stock.encode_image(images, normalize=True)
        self.calls += 1
        self._touched.clear()
        with self._active(lam):
            v = self.model.visual
            feats = dual_ops.openclip_vit(self, v, images) if isinstance(v, oc_tf.VisionTransformer) else v(images)
        self._check_coverage(True)
        return F.normalize(feats, dim=-1)

    @torch.no_grad()
    def encode_text(self, tokens: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
        """Unit-norm text features, one coefficient per sequence, ``(N, d)``."""
        lam = torch.as_tensor(lam, dtype=torch.float32, device=tokens.device).flatten()
        stock = self._endpoint(lam) if self.pair.text_differs else self.pair.expert
        if stock is not None:
            return stock.encode_text(tokens, normalize=True)
        self.calls += 1
        self._touched.clear()
        with self._active(lam):
            m = self.model
            feats = dual_ops.clip_text(self, m, tokens) if isinstance(m, oc_model.CLIP) else m.text(tokens)
        self._check_coverage(False)
        return F.normalize(feats, dim=-1)

    @torch.no_grad()
    def logit_scale(self, lam: torch.Tensor) -> torch.Tensor:
        """``exp`` of the per-sample merged logit scale, ``(N,)``."""
        lam = torch.as_tensor(lam, dtype=torch.float32).flatten()
        own = self.model.logit_scale.detach().reshape(())
        key = (id(self.model), "logit_scale")
        if key not in self._other:
            return own.exp().expand(len(lam)).clone()
        other = self._other[key].reshape(())
        w = lam.to(own.device)
        if self.mode == "dual":
            return torch.lerp(own.expand_as(w), other.expand_as(w), w).exp()
        return (own + w * other).exp()
