"""One contract over every registered merge method (built-ins and installed plug-ins): metadata, shapes,
endpoints, per-sample lambdas fed to the right merged model, and a throwaway plug-in run by name."""

import copy
import dataclasses

import pytest
import torch

import medclip
from medclip.config import ConfigError, apply_overrides, from_dict, to_dict
from medclip.merge import methods as builtin_methods
from medclip.merge.config import ALL_METHODS, MergeConfig
from medclip.merge.pair import MergePair
from medclip.merge.registry import KINDS, MERGE_METHODS, Outcome, register_merge_method, sections
from medclip.merge.t3 import endpoint_pass, merge_context, run_methods
from medclip.zeroshot_head import build_text_classifier

MERGE_METHODS.load_plugins()  # installed plug-ins are held to the same contract
NAMES = MERGE_METHODS.names()
PROMPTS = [["a chest x-ray", "a radiograph of the chest"], ["a brain mri"], ["a fundus photo"], ["a skin photo"]]
N = 12


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(2)
    base, _, tok = medclip.create_model("medclip-tiny")
    expert = copy.deepcopy(base)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in expert.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.2)
    g = torch.Generator().manual_seed(3)
    images = torch.randn(N, 3, 64, 64, generator=g) + 2 * torch.randn(N, 3, 1, 1, generator=g)
    pair = MergePair(base, expert)
    with torch.no_grad():
        pred = {
            w: (m.encode_image(images, normalize=True) @ build_text_classifier(m, tok, PROMPTS).T).argmax(-1)
            for w, m in (("base", pair.base), ("expert", pair.expert))
        }
    # so that an endpoint check can fail: the endpoints disagree and neither predicts one class for everything
    assert not torch.equal(pred["base"], pred["expert"]) and min(len(set(p.tolist())) for p in pred.values()) >= 2
    return pair, images, tok, pred


def _cfg(name, overrides=()):
    data = apply_overrides(to_dict(MergeConfig(methods=[name], batch_size=5, merge_batch_size=4)), list(overrides))
    return from_dict(MergeConfig, data)


def _run(setup, name, overrides=()):
    pair, images, tok, _ = setup
    res, _ = run_methods(pair, images, tokenizer=tok, class_prompts=PROMPTS, cfg=_cfg(name, overrides))
    return res


@pytest.mark.parametrize("name", NAMES)
def test_metadata_and_settings(name):
    meta = MERGE_METHODS.meta(name)
    assert meta["kind"] in KINDS
    fn = MERGE_METHODS.get(name)
    assert callable(fn) and (fn.__doc__ or "").strip(), "document the formula in the docstring"
    if meta["config"] is not None:
        assert dataclasses.is_dataclass(meta["config"]) and sections()[meta["section"]] is meta["config"]
        assert isinstance(MergeConfig().method_config(name), meta["config"])  # defaults build
    assert set(meta.get("endpoints", {})) <= {"base", "expert"}


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_kind(setup, name):
    pair, images, tok, _ = setup
    kind = MERGE_METHODS.meta(name)["kind"]
    res = _run(setup, name)
    assert res and all(r.kind == kind for r in res.values())
    for r in res.values():
        assert r.pred.shape == (N,) and r.pred.dtype == torch.long
        assert int(r.pred.min()) >= 0 and int(r.pred.max()) < len(PROMPTS)
        if kind in ("endpoint", "per_sample", "batch"):
            assert r.lam.shape == (N,) and r.lam.dtype == torch.float64 and torch.isfinite(r.lam).all()
            assert r.stats["n"] == N and r.stats["mean"] == pytest.approx(float(r.lam.mean()))
        if kind == "static":
            assert r.lam is None and r.rebuilds == 1
    # the raw value has the shape its kind promises
    cfg = _cfg(name)
    ctx = merge_context(pair, images, endpoint_pass(pair, images, tokenizer=tok, class_prompts=PROMPTS), cfg)
    value = MERGE_METHODS.get(name)(ctx, cfg.method_config(name))
    for o in [value] if not hasattr(value, "__next__") else list(value):
        v = o.value if isinstance(o, Outcome) else o
        if kind == "static":
            assert set(v) <= set(pair.differing)
            assert all(v[k].shape == pair.base_sd[k].shape for k in v)
        elif kind == "output":
            assert v.shape == (N, len(PROMPTS)) and torch.allclose(v.sum(-1), torch.ones(N, dtype=v.dtype))
        elif kind == "endpoint":
            assert v.shape == (N, len(PROMPTS))
        else:
            assert torch.as_tensor(v).shape == (N,)


@pytest.mark.parametrize(
    "name,which",
    [(n, w) for n in NAMES for w in sorted(MERGE_METHODS.meta(n).get("endpoints", {}))],
)
def test_endpoint_settings_reproduce_the_endpoint_model(setup, name, which):
    """lambda 1 / 0 (or the method's equivalent setting) is the generalist / the expert."""
    res = _run(setup, name, MERGE_METHODS.meta(name)["endpoints"][which])
    assert torch.equal(res[name].pred, setup[3][which])


@pytest.mark.parametrize("name", MERGE_METHODS.names(kind="per_sample") + MERGE_METHODS.names(kind="batch"))
def test_each_sample_gets_the_model_of_its_lambda(setup, name):
    """Independent check: rebuild lerp(theta_e, theta_b, lambda_i) for every sample and predict it alone."""
    pair, images, tok, _ = setup
    r = _run(setup, name)[name]
    for i in range(N):
        model = pair.build(pair.merged_state_dict(float(r.lam[i])))
        with torch.no_grad():
            f = model.encode_image(images[i : i + 1], normalize=True)
            want = (f @ build_text_classifier(model, tok, PROMPTS).T).argmax(-1)
        assert int(r.pred[i]) == int(want), (name, i)


def test_registry_order_is_the_default_and_report_order():
    assert NAMES[: len(ALL_METHODS)] == list(ALL_METHODS) and MergeConfig().methods == list(ALL_METHODS)
    assert ALL_METHODS[:3] == ("base", "expert", "weight_avg") and set(MergeConfig().params) == set(sections())


@dataclasses.dataclass
class HalfConfig:
    w: float = 0.5  # weight on the base


def test_inprocess_plugin_runs_by_name_with_its_section(setup):
    pair, images, tok, pred = setup

    @register_merge_method("throwaway_half", kind="static", config=HalfConfig)
    def throwaway_half(ctx, cfg):
        """``lerp(theta_e, theta_b, w)``."""
        return ctx.pair.merged_state_dict(cfg.w)

    try:
        assert _run(setup, "throwaway_half", ["params.throwaway_half.w=1.0"])["throwaway_half"].pred.equal(pred["base"])
        with pytest.raises(ConfigError, match=r"unknown config key 'merge.params.throwaway_half.ww'\. Did you mean: w"):
            from_dict(MergeConfig, {"params": {"throwaway_half": {"ww": 1}}}, "merge")
    finally:
        MERGE_METHODS.unregister("throwaway_half")
    with pytest.raises(ConfigError, match=r"unknown merge method 'throwaway_half'"):
        MergeConfig(methods=["throwaway_half"]).validate()


def test_unknown_names_suggest_close_matches():
    with pytest.raises(ConfigError, match=r"merge\.methods: unknown merge method 'tise'\. Did you mean: ties"):
        MergeConfig(methods=["tise"]).validate()
    with pytest.raises(ConfigError, match=r"unknown merge\.params section 'tise'\. Did you mean: ties"):
        MergeConfig(params={"tise": {"top_k": 1}})
    with pytest.raises(ValueError, match="kind must be one of"):
        register_merge_method("x", kind="sometimes")
    with pytest.raises(ValueError, match="section 'random' already holds RandomConfig"):
        register_merge_method("random_x", kind="per_sample", config=HalfConfig, section="random")


def test_a_new_file_in_the_methods_folder_is_a_builtin(tmp_path, monkeypatch, setup):
    (tmp_path / "zz_throwaway.py").write_text(
        "from medclip.merge.registry import register_merge_method\n\n\n"
        '@register_merge_method("zz_throwaway", kind="per_sample")\n'
        "def zz_throwaway(ctx, cfg):\n"
        '    """lambda = 1 (the base) for every sample."""\n'
        "    import torch\n\n"
        "    return torch.ones(ctx.n, dtype=torch.float64)\n"
    )
    monkeypatch.setattr(builtin_methods, "__path__", [*builtin_methods.__path__, str(tmp_path)])
    try:
        builtin_methods._import_all()
        assert MERGE_METHODS.names()[-1] == "zz_throwaway"
        assert torch.equal(_run(setup, "zz_throwaway")["zz_throwaway"].pred, setup[3]["base"])
    finally:
        MERGE_METHODS.unregister("zz_throwaway")
        import sys

        sys.modules.pop("medclip.merge.methods.zz_throwaway", None)


def test_list_methods_names_every_method_with_its_kind_and_settings(capsys):
    from zeroshot.merging import cli as merge_cli

    assert merge_cli.run(["--list-methods"]) == {}
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[:2] for ln in lines] == [[n, MERGE_METHODS.meta(n)["kind"]] for n in NAMES]
    assert "params.ties: {'top_k': 20.0, 'scale': 0.3}" in lines[NAMES.index("ties")]
    with pytest.raises(SystemExit):
        merge_cli.run(["--out", "x"])
    assert "the following arguments are required: --base, --expert" in capsys.readouterr().err
