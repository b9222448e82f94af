"""A validated base / expert pair: key checks, which tensors differ, merge scope, lerp state dicts.

Rules (spec section 3): key sets must match exactly; non-floating buffers must be identical; every
floating-point tensor whose values differ is merged (``merge_scope``); identical tensors are shared.
Tensors outside the scope take the values of ``unmerged_from`` (the expert by default) in both models, so
every engine sees a pair that differs only inside the scope.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence

import torch

LOGIT_KEYS = ("logit_scale", "logit_bias")


class MergeError(ValueError):
    """A base / expert pair that cannot be merged (mismatched keys, buffers, unsupported modules)."""


def _text_key(key: str) -> bool:
    return not key.startswith("visual.") and key not in LOGIT_KEYS


def select_scope(keys: Sequence[str], scope: str | Sequence[str], merge_logit_scale: bool = True) -> list[str]:
    """Keys (among ``keys``) inside ``merge_scope``: ``all_differing``, ``vision``, ``text`` or regexes."""
    if not isinstance(scope, str) and len(scope) == 1 and scope[0] in ("all_differing", "all", "vision", "text"):
        scope = scope[0]
    if isinstance(scope, str) and scope in ("all_differing", "all"):
        out = list(keys)
    elif isinstance(scope, str) and scope == "vision":
        out = [k for k in keys if k.startswith("visual.")]
    elif isinstance(scope, str) and scope == "text":
        out = [k for k in keys if _text_key(k)]
    else:
        pats = [scope] if isinstance(scope, str) else list(scope)
        try:
            regs = [re.compile(p) for p in pats]
        except re.error as e:
            raise MergeError(f"merge_scope: invalid regex: {e}") from None
        out = [k for k in keys if any(r.search(k) for r in regs)]
    if not merge_logit_scale:
        out = [k for k in out if k not in LOGIT_KEYS]
    return out


class MergePair:
    """The two endpoint models, cast to fp32, in eval mode, validated and reduced to their differences.

    Attributes:
        base, expert: the endpoint models (their out-of-scope tensors made equal).
        differing: state-dict keys that differ (and are merged), in state-dict order.
        base_sd, expert_sd: fp32 state dicts (shared tensors for identical entries).
    """

    def __init__(
        self,
        base: torch.nn.Module,
        expert: torch.nn.Module,
        *,
        merge_scope: str | Sequence[str] = "all_differing",
        merge_logit_scale: bool = True,
        unmerged_from: str = "expert",
    ) -> None:
        if unmerged_from not in ("expert", "base"):
            raise MergeError(f"unmerged_from must be 'expert' or 'base', got {unmerged_from!r}")
        if base is expert:
            expert = copy.deepcopy(expert)
        self.base, self.expert = base.float().eval(), expert.float().eval()
        sd_b, sd_e = self.base.state_dict(), self.expert.state_dict()
        missing, extra = sorted(set(sd_b) - set(sd_e)), sorted(set(sd_e) - set(sd_b))
        if missing or extra:
            raise MergeError(
                f"state-dict keys differ: only in base {missing[:10]}{'...' if len(missing) > 10 else ''}, "
                f"only in expert {extra[:10]}{'...' if len(extra) > 10 else ''}"
            )
        self._check_buffers()
        differing = []
        for k in sd_b:
            a, b = sd_b[k], sd_e[k]
            if a.shape != b.shape:
                raise MergeError(f"tensor {k!r} differs in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
            if not a.is_floating_point():
                if not torch.equal(a, b):
                    raise MergeError(f"non-floating buffer {k!r} differs between base and expert")
                continue
            if not torch.equal(a, b):
                differing.append(k)
        scoped = set(select_scope(differing, merge_scope, merge_logit_scale))
        out_of_scope = [k for k in differing if k not in scoped]
        if out_of_scope:
            src, dst = (sd_e, self.base) if unmerged_from == "expert" else (sd_b, self.expert)
            with torch.no_grad():
                dst.load_state_dict({k: src[k] for k in out_of_scope}, strict=False)
        self.out_of_scope = out_of_scope
        self.differing = [k for k in differing if k in scoped]
        self.base_sd = self.base.state_dict()
        self.expert_sd = self.expert.state_dict()
        self.tokenizer = None

    def _check_buffers(self) -> None:
        bufs_b = dict(self.base.named_buffers())
        bufs_e = dict(self.expert.named_buffers())
        if set(bufs_b) != set(bufs_e):
            raise MergeError(f"buffer names differ: {sorted(set(bufs_b) ^ set(bufs_e))[:10]}")
        for k, a in bufs_b.items():
            b = bufs_e[k]
            if not a.is_floating_point() and (a.shape != b.shape or not torch.equal(a, b)):
                raise MergeError(f"non-floating buffer {k!r} differs between base and expert")

    @property
    def identical(self) -> bool:
        """True when no tensor differs (the output then does not depend on lambda)."""
        return not self.differing

    @property
    def text_differs(self) -> bool:
        """True when any text-tower / text-projection tensor differs."""
        return any(_text_key(k) for k in self.differing)

    @property
    def vision_differs(self) -> bool:
        """True when any image-tower tensor differs."""
        return any(k.startswith("visual.") for k in self.differing)

    def delta(self) -> dict[str, torch.Tensor]:
        """``theta_b - theta_e`` for every differing key (fp32)."""
        return {k: self.base_sd[k] - self.expert_sd[k] for k in self.differing}

    def task_vector(self) -> dict[str, torch.Tensor]:
        """``tau = theta_e - theta_b`` for every differing key (fp32)."""
        return {k: self.expert_sd[k] - self.base_sd[k] for k in self.differing}

    def merged_state_dict(self, lam: float, *, every_float: bool = False) -> dict[str, torch.Tensor]:
        """``lam * theta_b + (1 - lam) * theta_e`` by ``torch.lerp`` (exact at 0 and 1), differing keys."""
        lam = float(lam)
        keys = [k for k, v in self.base_sd.items() if v.is_floating_point()] if every_float else self.differing
        return {k: torch.lerp(self.expert_sd[k], self.base_sd[k], lam) for k in keys}

    def with_offsets(self, offsets: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``theta_b + offset`` for the given keys (static merges: task arithmetic, TIES, DARE)."""
        return {k: self.base_sd[k] + v for k, v in offsets.items()}

    def build(self, update: dict[str, torch.Tensor] | None = None) -> torch.nn.Module:
        """A fresh copy of the expert model with ``update`` loaded (a static merged model)."""
        model = copy.deepcopy(self.expert)
        if update:
            load_into(model, update)
        return model


def load_into(model: torch.nn.Module, update: dict[str, torch.Tensor]) -> None:
    """Copy ``update`` (a partial state dict) into ``model`` in place, strictly checking the keys exist."""
    res = model.load_state_dict(update, strict=False)
    if res.unexpected_keys:
        raise MergeError(f"unknown keys in merged state dict: {res.unexpected_keys[:10]}")
