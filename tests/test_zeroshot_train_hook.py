"""The trainer's ``zeroshot`` evaluator: registration, arguments, and a 2-rank gloo run that must return
the same dict on both ranks as a 1-process run."""

import json
import multiprocessing as mp

import pytest
import torch
from test_zeroshot_fixtures import write_shards

import medclip
import zeroshot.train_hook  # noqa: F401  (registers "zeroshot")
from medclip.train.evaluators import create_evaluator, list_evaluators
from zeroshot.classifier import eval_transform
from zeroshot.evaluate import EvalOptions, evaluate_dataset
from zeroshot.suites import load_suite, replace_path


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from data_pipelines.sources.demo import DEMO_CLASSES

    torch.set_num_threads(1)  # on 2 busy cores, 2 intra-op threads spin-wait ~50x slower
    root = tmp_path_factory.mktemp("hook")
    samples = [(c.modality, c.label, "x") for c in DEMO_CLASSES for _ in range(2)][:-1]  # 33: uneven split
    write_shards(root / "val", samples, per_shard=8)
    torch.manual_seed(0)
    model, _, tok = medclip.create_model("medclip-tiny")
    yield root, model, tok
    torch.set_num_threads(2)


def _rank(rank, world, init, args, model, tok, out):
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    res = create_evaluator("zeroshot", args)(model, tok, device="cpu", rank=rank, world_size=world, step=1, epoch=0)
    dist.destroy_process_group()
    with open(out, "w") as f:
        json.dump(res, f)


def test_registered_and_bad_args(setup, tmp_path):
    _, model, tok = setup
    assert "zeroshot" in list_evaluators()
    with pytest.raises(ValueError, match="unknown key\\(s\\) \\['suit'\\]"):
        create_evaluator("zeroshot", {"suit": "demo"})
    ev = create_evaluator("zeroshot", {"suite": "unimed21", "data_root": str(tmp_path)})
    with pytest.raises(FileNotFoundError, match="none of .*chexpert-5x200.* could be read"):
        ev(model, tok, device="cpu", rank=0, world_size=1, step=0, epoch=0)


def test_single_and_two_ranks_agree(setup, tmp_path):
    root, model, tok = setup
    args = {"suite": "demo", "data_root": str(root), "path": "val", "workers": 0, "batch_size": 8}
    single = create_evaluator("zeroshot", args)(model, tok, device="cpu", rank=0, world_size=1, step=1, epoch=0)
    suite = load_suite("demo", data_root=root)
    ref = evaluate_dataset(
        model,
        tok,
        suite,
        replace_path(suite.datasets[0], "val"),
        preprocess=eval_transform(model),
        device=torch.device("cpu"),
        opts=EvalOptions(workers=0),
    )
    assert single["zeroshot/demo/accuracy"] == pytest.approx(ref["score"])
    assert single["zeroshot/demo/accuracy/xray"] == pytest.approx(ref["breakdown"]["xray"]["score"])
    assert set(single) == {"zeroshot/demo/accuracy", "zeroshot/mean"} | {
        f"zeroshot/demo/accuracy/{m}" for m in ("xray", "ct", "mri", "ultrasound", "pathology", "fundus")
    }
    model.train()  # the evaluator switches to eval mode and restores the caller's mode
    create_evaluator("zeroshot", args)(model, tok, device="cpu", rank=0, world_size=1, step=1, epoch=0)
    assert model.training
    model.eval()

    ctx = mp.get_context("fork")
    init = f"file://{tmp_path / 'pg'}"
    procs = [ctx.Process(target=_rank, args=(r, 2, init, args, model, tok, tmp_path / f"r{r}.json")) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    r0, r1 = (json.loads((tmp_path / f"r{r}.json").read_text()) for r in range(2))
    assert r0 == r1
    assert r0 == pytest.approx(single)
