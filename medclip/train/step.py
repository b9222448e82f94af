"""One optimizer step with feature-cache gradient accumulation (exactly a bigger batch's gradient).

With ``accum_freq = A`` the step first encodes all A micro-batches without gradient, then re-encodes each
micro-batch with gradient and evaluates the loss on the full A-micro-batch feature set in which only that
micro-batch's rows are live. Summing the A backward passes gives the gradient of the loss over the whole
accumulated batch (the logit scale/bias gradient is counted once, in the last pass).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch


def _count_once(t: torch.Tensor | None, live: bool) -> torch.Tensor | None:
    if t is None:
        return None
    d = t.detach()
    return d + (t - d) * (1.0 if live else 0.0)


def forward_backward(
    module: torch.nn.Module,
    loss_fn: Callable,
    inputs: list[dict],
    *,
    autocast: Callable[[], contextlib.AbstractContextManager],
    no_sync: Callable[[], contextlib.AbstractContextManager] | None = None,
) -> tuple[torch.Tensor, dict]:
    """Run forward + backward over micro-batches ``inputs`` (each ``{images, tokens, text_cached, label_ids}``).

    Returns the (detached) total loss and the detached loss parts of the last pass.
    """
    if len(inputs) == 1:
        x = inputs[0]
        with autocast():
            out = module(x["images"], x["tokens"], x["text_cached"])
            parts = loss_fn(**out, label_ids=x["label_ids"])
            total = sum(parts.values())
        total.backward()
        return total.detach(), {k: v.detach() for k, v in parts.items()}
    cached = []
    with torch.no_grad(), autocast():
        for x in inputs:
            out = module(x["images"], x["tokens"], x["text_cached"])
            cached.append((out["image_features"].detach(), out["text_features"].detach()))
    labels = torch.cat([x["label_ids"] for x in inputs])
    last = len(inputs) - 1
    for j, x in enumerate(inputs):
        ctx = no_sync() if (no_sync is not None and j < last) else contextlib.nullcontext()
        with ctx:
            with autocast():
                out = module(x["images"], x["tokens"], x["text_cached"])
                imgs = [out["image_features"] if k == j else c[0] for k, c in enumerate(cached)]
                txts = [out["text_features"] if k == j else c[1] for k, c in enumerate(cached)]
                parts = loss_fn(
                    image_features=torch.cat(imgs),
                    text_features=torch.cat(txts),
                    logit_scale=_count_once(out["logit_scale"], j == last),
                    logit_bias=_count_once(out["logit_bias"], j == last),
                    label_ids=labels,
                )
                total = sum(parts.values())
            total.backward()
    return total.detach(), {k: v.detach() for k, v in parts.items()}
