"""End to end: tiny shards -> make_expert (full and LoRA) -> medclip-merge report, checked independently."""

import json

import numpy as np
import pytest
import torch
from merge_fixtures import write_split, write_suite

import medclip
from medclip.merge.config import ALL_METHODS
from medclip.zeroshot_head import build_text_classifier
from zeroshot.merging import cli as merge_cli
from zeroshot.merging import make_expert
from zeroshot.merging.data import load_images, modality_view
from zeroshot.merging.protocol import error_reduction, mce
from zeroshot.suites import load_suite

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("merge")
    for split, n, seed in (("train", 6, 0), ("val", 3, 1), ("test", 4, 2)):
        write_split(root / "shards" / split, n, seed)
    suite = write_suite(root)
    torch.manual_seed(0)
    model, _, _ = medclip.create_model("medclip-tiny")
    base = root / "base.pt"
    torch.save({"epoch": 0, "step": 0, "name": "medclip-tiny", "state_dict": model.state_dict()}, base)
    return root, suite, base


def test_make_expert_full_and_lora(setup, capsys):
    root, suite, base = setup
    common = [f"suite={suite}", "modality=xray", "epochs=2", "batch_size=8", "lr=1e-3"]
    full = make_expert.main(["--base", str(base), "--out", str(root / "full.pt"), *common])
    assert full["n_train"] == 12 and full["n_val"] == 6 and len(full["history"]) == 3
    assert full["best_epoch"] >= 1 and full["best_val_acc"] == max(h["val_acc"] for h in full["history"][1:])
    ck = torch.load(root / "full.pt", weights_only=True)
    base_sd = torch.load(base, weights_only=True)["state_dict"]
    changed = {k for k in base_sd if not torch.equal(ck["state_dict"][k], base_sd[k])}
    assert changed and all(k.startswith("visual.") for k in changed)  # text tower frozen
    lora = make_expert.main(["--base", str(base), "--out", str(root / "lora.pt"), *common, "mode=lora", "lora_rank=2"])
    ck = torch.load(root / "lora.pt", weights_only=True)
    assert lora["mode"] == "lora" and set(ck["lora"]) == {
        k for k in base_sd if k.endswith("in_proj_weight") and k.startswith("visual.")
    }
    for k, f in ck["lora"].items():
        assert torch.allclose(ck["state_dict"][k] - base_sd[k], f["b"] @ f["a"], atol=1e-6)
    with pytest.raises(SystemExit):
        make_expert.main(["--base", str(base), "--out", str(root / "x.pt"), *common, "mode=bogus"])
    assert "mode must be full or lora" in capsys.readouterr().err


def test_medclip_merge_cli_report(setup, capsys):
    root, suite, base = setup
    expert = root / "lora.pt"
    if not expert.is_file():
        make_expert.main(["--base", str(base), "--out", str(expert), f"suite={suite}", "modality=xray", "epochs=1",
                          "mode=lora", "lora_rank=2", "lr=1e-2"])  # fmt: skip
    out = root / "report"
    args = ["corruptions=[jpeg]", "severities=[1,3]", "merge.engine=delta", "merge.merge_batch_size=4"]
    rep = merge_cli.run(["--base", str(base), "--expert", str(expert), "--suite", str(suite), "--out", str(out), *args])
    assert (out / "report.md").is_file() and (out / "config.yaml").is_file()
    js = json.loads((out / "report.json").read_text())
    assert set(js["table"]) == set(ALL_METHODS) and js["expert_modality"] == "xray" and js["lowrank_delta"]
    assert set(js["settings"]) == {"in_domain", "novel:mri", "jpeg@1", "jpeg@3"}
    t = rep["table"]
    assert t["base"]["in_domain_er"] == 0.0 and t["base"]["mce"] == pytest.approx(100.0)
    assert t["t3"]["rebuilds"] == 0 and t["t3"]["dual_passes"] > 0 and t["t3_b"]["rebuilds"] == 2
    assert 0.5 <= t["t3"]["lambda_min"] <= t["t3"]["lambda_max"] <= 2 - 2**0.5 + 1e-12
    # independent check of two cells: zero-shot base and expert top-1 on the in-domain view
    s = load_suite(str(suite))
    view = modality_view(s, s.datasets[0], "xray")
    for name, ckpt in (("base", base), ("expert", expert)):
        model, pre, tok = medclip.models.create_model_from_checkpoint(str(ckpt))
        with torch.no_grad():
            f = model.encode_image(load_images(view, pre), normalize=True)
        pred = (f @ build_text_classifier(model, tok, view.prompts).T).argmax(-1).numpy()
        assert t[name]["in_domain_top1"] == pytest.approx(float((pred == view.items.labels).mean()))
    with pytest.raises(SystemExit):
        merge_cli.run(["--base", str(base), "--expert", str(expert), "--out", str(out), "merge.coef.gama=1"])
    assert "Did you mean: gamma" in capsys.readouterr().err
    md = (out / "report.md").read_text()
    assert "| t3 |" in md and "mCE" in md


def test_metric_formulas():
    assert error_reduction(0.4, 0.3) == pytest.approx(25.0) and np.isnan(error_reduction(0.0, 0.1))
    base = {"a": {1: 0.2, 2: 0.4}, "b": {1: 0.5, 2: 0.5}}
    assert mce(base, base) == pytest.approx(100.0)
    assert mce({"a": {1: 0.1, 2: 0.2}, "b": {1: 0.5, 2: 1.0}}, base) == pytest.approx(100 * (0.5 + 1.5) / 2)
