"""Make a modality expert: fine-tune a CLIP model's image tower on one modality (full or LoRA on q, k, v).

    python -m zeroshot.merging.make_expert --base runs/demo/checkpoints/latest.pt --out runs/merge/expert_xray.pt \
        modality=xray mode=full epochs=4

Recipe (spec section 9, adapted to CPU): the text tower is frozen and its class features are fixed; the
image tower is trained with cross-entropy on ``s * cos(f(x), t_c)`` (``s`` = the base model's frozen logit
scale; ``expert_logits=raw_dot`` uses unnormalized dot products without a scale) with AdamW. It trains on
the suite's ``train`` split, keeps the epoch with the best ``val`` accuracy and never reads ``test``. The
output is a medclip checkpoint (``name``, ``state_dict`` ...) that loads anywhere a base checkpoint does, plus
``expert`` metadata and, for LoRA, the low-rank factors of ``theta_e - theta_b`` (key ``lora``).
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from medclip.cli_common import HelpFormatter, add_overrides, overrides_from
from medclip.config import ConfigError, load_config, to_dict
from medclip.merge.lora import add_lora, lora_factors, merge_lora
from medclip.zeroshot_head import build_text_classifier

from ..suites import load_suite, select
from .data import load_images, modality_view
from .models import load_model

log = logging.getLogger("medclip.make_expert")


@dataclass
class ExpertConfig:
    """Settings of the expert fine-tuning (CPU-sized defaults for the demo)."""

    modality: str = "xray"  # the expert's modality (its classes and samples are selected from the suite)
    suite: str = "demo"
    data_root: str | None = None  # overrides the suite's data root
    dataset: str = "demo"  # dataset of the suite whose splits are used
    train_split: str = "train"  # folder (relative to the data root) of the training split
    val_split: str = "val"  # folder used for model selection
    data_fraction: float = 1.0  # fraction of the training samples (seeded subset)
    max_train: int | None = None  # cap on training samples (after data_fraction)
    max_val: int | None = None
    mode: str = "full"  # full: every image-tower tensor; lora: LoRA on q, k, v of every block
    lora_rank: int = 16
    lora_alpha: float | None = None  # default = rank (scale 1)
    lora_targets: list[str] | None = None  # default [q, k, v]
    lr: float = 1e-4
    weight_decay: float = 1e-4
    epochs: int = 4
    batch_size: int = 64
    expert_logits: str = "scaled"  # scaled: s * cos (default); raw_dot: unnormalized features, no scale
    seed: int = 0
    threads: int = 1

    def validate(self) -> None:
        if self.mode not in ("full", "lora"):
            raise ConfigError(f"mode must be full or lora, got {self.mode!r}")
        if self.expert_logits not in ("scaled", "raw_dot"):
            raise ConfigError(f"expert_logits must be scaled or raw_dot, got {self.expert_logits!r}")
        if not 0 < self.data_fraction <= 1:
            raise ConfigError(f"data_fraction must be in (0, 1], got {self.data_fraction}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs and batch_size must be >= 1")
        self.lora_targets = list(self.lora_targets or ["q", "k", "v"])


def _logits(model, images, text, scale, cfg) -> torch.Tensor:
    f = model.encode_image(images, normalize=cfg.expert_logits == "scaled")
    return scale * f @ text.T if cfg.expert_logits == "scaled" else f @ text.T


@torch.no_grad()
def _accuracy(model, images, labels, text, scale, cfg) -> float:
    model.eval()
    pred = torch.cat(
        [_logits(model, images[i : i + 256], text, scale, cfg).argmax(-1) for i in range(0, len(images), 256)]
    )
    return float((pred == labels).float().mean())


def _splits(cfg: ExpertConfig, preprocess):
    """The modality's train view (``data_fraction`` of it, at most ``max_train``) and its images and labels,
    and the val images and labels."""
    suite = load_suite(cfg.suite, cfg.data_root)
    ds = select(suite, [cfg.dataset])[0]
    tr = modality_view(suite, ds, cfg.modality, path=cfg.train_split)
    n_tr = max(1, int(round(cfg.data_fraction * len(tr.items))))
    n_tr = min(n_tr, cfg.max_train or n_tr)
    tr = modality_view(suite, ds, cfg.modality, path=cfg.train_split, max_samples=n_tr, seed=cfg.seed)
    va = modality_view(suite, ds, cfg.modality, path=cfg.val_split, max_samples=cfg.max_val, seed=cfg.seed)
    x_tr, y_tr = load_images(tr, preprocess), torch.as_tensor(tr.items.labels)
    x_va, y_va = load_images(va, preprocess), torch.as_tensor(va.items.labels)
    return tr, (x_tr, y_tr), (x_va, y_va)


def _make_trainable(model, cfg: ExpertConfig):
    """Freeze the model, then train the image tower (``full``) or LoRA factors added to it (``lora``, returned)."""
    for p in model.parameters():
        p.requires_grad_(False)
    if cfg.mode == "lora":
        return add_lora(model.visual, rank=cfg.lora_rank, alpha=cfg.lora_alpha, targets=cfg.lora_targets, seed=cfg.seed)
    for p in model.visual.parameters():
        p.requires_grad_(True)
    return None


def _fine_tune(model, train, val, text, scale, cfg: ExpertConfig) -> tuple[list[dict], tuple, int]:
    """AdamW on the trainable parameters for ``cfg.epochs`` epochs; returns the per-epoch history, the best
    fine-tuned epoch ``(val_acc, epoch, image-tower state dict)`` and the number of steps."""
    (x_tr, y_tr), (x_va, y_va) = train, val
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    history = [{"epoch": 0, "val_acc": _accuracy(model, x_va, y_va, text, scale, cfg)}]
    best = (-1.0, 0, None)  # the expert is the best *fine-tuned* epoch (epoch 0 = the base, for reference)
    gen = torch.Generator().manual_seed(cfg.seed)
    step = 0
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = torch.randperm(len(x_tr), generator=gen)
        losses = []
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            loss = F.cross_entropy(_logits(model, x_tr[idx], text, scale, cfg), y_tr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            step += 1
        acc = _accuracy(model, x_va, y_va, text, scale, cfg)
        history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "val_acc": acc})
        log.info("epoch %d loss %.4f val_acc %.4f", epoch, np.mean(losses), acc)
        if acc > best[0]:
            best = (acc, epoch, copy.deepcopy(model.visual.state_dict()))
    return history, best, step


def make_expert(base_path: str, out: str | Path, cfg: ExpertConfig) -> dict:
    """Fine-tune, select on val, write the expert checkpoint to ``out``; returns its summary."""
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    model, preprocess, tok, name = load_model(base_path)
    if name is None:  # the expert checkpoint records an architecture name; a folder spec has none
        raise ConfigError(f"make_expert: --base must be a medclip checkpoint or a model name, got {base_path!r}")
    base_sd = {k: v.clone() for k, v in model.state_dict().items()}
    tr, (x_tr, y_tr), (x_va, y_va) = _splits(cfg, preprocess)
    text = build_text_classifier(model, tok, tr.prompts)
    scale = float(model.logit_scale.detach().exp())
    loras = _make_trainable(model, cfg)
    t0 = time.perf_counter()
    history, best, step = _fine_tune(model, (x_tr, y_tr), (x_va, y_va), text, scale, cfg)
    model.visual.load_state_dict(best[2])
    factors = None
    if loras is not None:
        factors = {k: {"a": f.a.contiguous(), "b": f.b.contiguous()} for k, f in lora_factors(loras).items()}
        merge_lora(model.visual)
    model.eval()
    sd = model.state_dict()
    assert set(sd) == set(base_sd), "the expert must keep the base model's state-dict keys"
    summary = {
        "modality": cfg.modality,
        "mode": cfg.mode,
        "base": str(base_path),
        "best_epoch": best[1],
        "best_val_acc": best[0],
        "history": history,
        "classnames": tr.classnames,
        "n_train": len(x_tr),
        "n_val": len(x_va),
        "train_wall_s": time.perf_counter() - t0,
        "changed_tensors": sum(not torch.equal(sd[k], base_sd[k]) for k in sd),
    }
    ckpt = {"epoch": best[1], "step": step, "name": name, "state_dict": sd, "optimizer": None, "scaler": None,
            "config": to_dict(cfg), "expert": summary}  # fmt: skip
    if factors:
        ckpt["lora"] = factors
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    torch.save(ckpt, tmp)
    os.replace(tmp, out)
    return summary


def main(argv: list[str] | None = None) -> dict:
    """Command line: ``--base <ckpt or model name> --out <file> [--config yaml] [key=value ...]``."""
    ap = argparse.ArgumentParser(
        prog="python -m zeroshot.merging.make_expert",
        description=__doc__.splitlines()[0],
        formatter_class=HelpFormatter,
    )
    ap.add_argument("--base", required=True, help="base checkpoint (medclip trainer checkpoint) or model name")
    ap.add_argument("--out", required=True, help="expert checkpoint file to write")
    ap.add_argument("--config", action="append", default=[], help="YAML file(s) of ExpertConfig keys")
    add_overrides(ap, "ExpertConfig (e.g. modality=ct mode=lora epochs=2)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        cfg = load_config(ExpertConfig, args.config, overrides_from(args, "make_expert"))
        summary = make_expert(args.base, args.out, cfg)
    except (ValueError, FileNotFoundError) as e:  # ConfigError, missing data / checkpoints
        ap.exit(2, f"make_expert: error: {e}\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=1))
    return summary


if __name__ == "__main__":
    main()
