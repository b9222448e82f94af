"""Image<->text retrieval on shards: recall@K in both directions.

Each image is paired with its primary caption (``<key>.txt``, else the first of ``captions``) or, with
``captions: all``, with every caption in its ``.json``. Image->text: a hit when any of the image's own
captions ranks in the top K. Text->image: a hit when the caption's image ranks in the top K. A candidate
only outranks the correct one with a strictly higher cosine, so identical captions of different images
(common in label-derived captions) do not count against the query.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from medclip.zeroshot_head import encode_texts

from .data import index_shards

KS = (1, 5, 10)


def recall_at_k(sim: np.ndarray | torch.Tensor, owner: np.ndarray, ks=KS, *, ranks: bool = False) -> dict:
    """Recall@K both ways from an ``(n_images, n_texts)`` similarity and ``owner[t]`` = image of text ``t``.

    Returns ``{"image_to_text": {"R@1": ...}, "text_to_image": {...}}``; with ``ranks``, also ``ranks``:
    the 0-based rank of each query's correct answer per direction (numpy arrays, for bootstrap CIs).
    """
    sim = torch.as_tensor(sim, dtype=torch.float64)
    owner_t = torch.as_tensor(owner, dtype=torch.long)
    n_img = sim.shape[0]
    # text -> image: rank of the owning image among all images for each text (column)
    correct = sim[owner_t, torch.arange(sim.shape[1])]
    t_rank = (sim > correct[None, :]).sum(0)
    # image -> text: best (smallest) rank among the image's own texts
    i_rank = torch.full((n_img,), sim.shape[1], dtype=torch.long)
    for t in range(0, sim.shape[1], 1024):
        block = sim[:, t : t + 1024]
        own = owner_t[t : t + 1024]
        c = block[own, torch.arange(block.shape[1])]
        r = (sim[own] > c[:, None]).sum(1)
        i_rank.scatter_reduce_(0, own, r, reduce="amin")
    out = {
        "image_to_text": {f"R@{k}": float((i_rank < k).double().mean()) for k in ks},
        "text_to_image": {f"R@{k}": float((t_rank < k).double().mean()) for k in ks},
    }
    if ranks:
        out["ranks"] = {"image_to_text": i_rank.numpy(), "text_to_image": t_rank.numpy()}
    return out


def retrieval_on_shards(
    model,
    tokenizer,
    preprocess,
    folder: str | Path,
    *,
    name: str,
    device,
    opts,
    max_samples: int | None = None,
    captions: str = "primary",
) -> dict:
    """Recall@1/5/10 both ways on the shards in ``folder`` (a seeded subset of ``max_samples`` images)."""
    from .evaluate import encode_images

    folder = Path(folder)
    recs = sorted(index_shards(folder), key=lambda r: r["key"]) if folder.is_dir() else []
    if not recs:
        return {"name": name, "status": "missing", "message": f"no shards with images in {folder}"}
    if max_samples is not None and len(recs) > max_samples:
        idx = np.sort(np.random.default_rng(opts.seed).choice(len(recs), size=max_samples, replace=False))
        recs = [recs[i] for i in idx]
    texts, owner = [], []
    for i, r in enumerate(recs):
        caps = r.get("json", {}).get("captions") or []
        primary = (r.get("txt") or (caps[0] if caps else "")).strip()
        chosen = list(dict.fromkeys(c.strip() for c in caps if c.strip())) if captions == "all" else [primary]
        for c in chosen or [primary]:
            if c:
                texts.append(c)
                owner.append(i)
    if not texts:
        return {"name": name, "status": "missing", "message": f"no captions in the shards of {folder}"}
    img = encode_images(model, preprocess, [r["image"] for r in recs], device=torch.device(device), opts=opts)
    txt = encode_texts(model, tokenizer, texts, device=device).to(img.device)
    res = recall_at_k((img @ txt.T).cpu(), np.asarray(owner), ranks=True)
    ranks = res.pop("ranks")
    if getattr(opts, "bootstrap", None) is not None:
        from .stats.metric_cis import recall_cis

        res["ci"] = {d: recall_cis(r, KS, opts.bootstrap) for d, r in ranks.items()}
        res["bootstrap"] = opts.bootstrap.to_dict()
    return {
        "name": name,
        "status": "ok",
        "path": str(folder),
        "n_images": len(recs),
        "n_texts": len(texts),
        "captions": captions,
        **res,
    }
