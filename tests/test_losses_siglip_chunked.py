"""siglip_chunked on 2 gloo processes: loss and gradients equal the unchunked global SigLIP loss.

Inputs are float64; the losses compute their logits in float32 (as in training), hence float32 tolerances.
"""

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from medclip.losses import create_loss

N, D = 5, 8


def _global_features(W):
    g = torch.Generator().manual_seed(0)
    img = F.normalize(torch.randn(W * N, D, generator=g, dtype=torch.float64), dim=-1)
    txt = F.normalize(torch.randn(W * N, D, generator=g, dtype=torch.float64), dim=-1)
    return img, txt


def _reference(W):
    """Single process, written out: sum over all W N x W N pairs of -log sigmoid(y (s x.t + b)), / N."""
    img, txt = (t.clone().requires_grad_(True) for t in _global_features(W))
    s = torch.tensor(10.0, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(-5.0, dtype=torch.float64, requires_grad=True)
    total = 0.0
    for i in range(W * N):
        for j in range(W * N):
            y = 1.0 if i == j else -1.0
            total = total - F.logsigmoid(y * (s * img[i] @ txt[j] + b))
    (total / N).backward()  # = sum over ranks of the per-rank losses (each divides by its local N)
    return float(total.detach() / (W * N)), img.grad, txt.grad, s.grad, b.grad


def _worker(rank, W, init_file, out_file):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=W)
    try:
        img, txt = _global_features(W)
        rows = slice(rank * N, (rank + 1) * N)
        res = {}
        for name in ("siglip_chunked", "siglip"):
            li = img[rows].clone().requires_grad_(True)
            lt = txt[rows].clone().requires_grad_(True)
            s = torch.tensor(10.0, dtype=torch.float64, requires_grad=True)
            b = torch.tensor(-5.0, dtype=torch.float64, requires_grad=True)
            loss = create_loss(name, rank=rank, world_size=W)(
                image_features=li, text_features=lt, logit_scale=s, logit_bias=b
            )["contrastive_loss"]
            loss.backward()
            res[name] = (loss.detach(), li.grad, lt.grad, s.grad, b.grad)
        torch.save(res, f"{out_file}.{rank}")
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("W", [2, 3])  # 3: the ring's send and receive neighbours differ
def test_chunked_siglip_equals_unchunked_loss_and_gradients(tmp_path, W):
    mp.spawn(_worker, args=(W, str(tmp_path / "init"), str(tmp_path / "out")), nprocs=W, join=True)
    ranks = [torch.load(f"{tmp_path / 'out'}.{r}", weights_only=True) for r in range(W)]
    loss, gi, gt, gs, gb = _reference(W)
    for name in ("siglip_chunked", "siglip"):
        per_rank = [r[name] for r in ranks]
        # mean over ranks of the per-rank loss (what DDP's gradient averaging optimizes) = global loss
        assert abs(sum(float(p[0]) for p in per_rank) / W - loss) < 1e-6 * abs(loss), name
        # feature gradients of each rank's rows = the global gradient's rows (other ranks' losses included)
        torch.testing.assert_close(torch.cat([p[1] for p in per_rank]), gi, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(torch.cat([p[2] for p in per_rank]), gt, rtol=1e-5, atol=1e-7)
        # scale / bias: summed over ranks (DDP all-reduce) = the global gradient
        torch.testing.assert_close(sum(p[3] for p in per_rank), gs, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(sum(p[4] for p in per_rank), gb, rtol=1e-5, atol=1e-7)
    # rank 0's chunked loss alone is different from rank 1's (the test is not trivially symmetric)
    assert abs(float(ranks[0]["siglip_chunked"][0]) - float(ranks[1]["siglip_chunked"][0])) > 1e-6


def test_single_process_chunked_equals_siglip():
    img, txt = _global_features(2)
    s, b = torch.tensor(10.0, dtype=torch.float64), torch.tensor(-5.0, dtype=torch.float64)
    a = create_loss("siglip_chunked")(image_features=img, text_features=txt, logit_scale=s, logit_bias=b)
    r = create_loss("siglip")(image_features=img, text_features=txt, logit_scale=s, logit_bias=b)
    assert abs(float(a["contrastive_loss"]) - float(r["contrastive_loss"])) < 1e-6
