"""MergeConfig: per-method ``params`` sections; the old flat keys resolve to the same config with a warning."""

import warnings

import pytest
import yaml

from medclip.config import ConfigError, load_config, to_dict
from medclip.merge.config import LEGACY_KEYS, MergeConfig
from medclip.merge.methods.static_merges import TiesConfig
from zeroshot.merging.protocol import ProtocolConfig

OLD = """
suite: demo
merge:
  engine: dual
  wise_alpha: 0.3
  wise_sweep: [0.1, 0.9]
  ta_scale: 0.4
  ties_top_k: 30
  ties_scale: 0.5
  dare_drop: 0.6
  dare_scale: 0.9
  dare_seed: 7
  ensemble_c: 0.2
  random_seed: 3
  bmm_components: 4
  bmm_batch: 256
"""

NEW = """
suite: demo
merge:
  engine: dual
  params:
    wise_ft: {alpha: 0.3, sweep: [0.1, 0.9]}
    task_arithmetic: {scale: 0.4}
    ties: {top_k: 30, scale: 0.5}
    dare: {drop: 0.6, scale: 0.9, seed: 7}
    ensemble: {c: 0.2}
    random: {seed: 3}
    dawin_bmm: {components: 4, batch: 256}
"""


def test_old_flat_keys_resolve_to_the_new_sections(tmp_path):
    (tmp_path / "old.yaml").write_text(OLD)
    (tmp_path / "new.yaml").write_text(NEW)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = load_config(ProtocolConfig, tmp_path / "new.yaml")  # the new form warns about nothing
    with pytest.warns(DeprecationWarning) as got:
        old = load_config(ProtocolConfig, tmp_path / "old.yaml")
    assert old == new and to_dict(old) == to_dict(new)
    msgs = sorted(str(w.message) for w in got)
    assert len(msgs) == len(LEGACY_KEYS) == 12
    assert "merge config key 'ties_top_k' is deprecated; use 'merge.params.ties.top_k'" in msgs
    p = new.merge.params
    assert p["ties"] == TiesConfig(top_k=30.0, scale=0.5) and p["wise_ft"].sweep == [0.1, 0.9]
    assert (p["dare"].seed, p["random"].seed, p["dawin_bmm"].components, p["ensemble"].c) == (7, 3, 4, 0.2)
    # the saved (resolved) config is the new form only, and reads back to the same config
    saved = yaml.safe_dump(to_dict(old))
    assert "ties_top_k" not in saved and "params" in saved
    (tmp_path / "saved.yaml").write_text(saved)
    assert load_config(ProtocolConfig, tmp_path / "saved.yaml") == new


def test_old_flat_override_maps_too_and_an_explicit_new_key_wins():
    with pytest.warns(DeprecationWarning, match="'merge.params.dare.drop'"):
        cfg = load_config(ProtocolConfig, None, ["merge.dare_drop=0.5", "merge.params.dare.scale=2"])
    assert (cfg.merge.params["dare"].drop, cfg.merge.params["dare"].scale) == (0.5, 2.0)
    with pytest.warns(DeprecationWarning):
        cfg = load_config(MergeConfig, None, ["ties_scale=0.9", "params.ties.scale=0.1"])
    assert cfg.params["ties"].scale == 0.1


def test_typos_are_fatal():
    with pytest.raises(ConfigError, match=r"unknown config key 'merge.params.ties.topk'\. Did you mean: top_k"):
        load_config(ProtocolConfig, None, ["merge.params.ties.topk=3"])
    with pytest.raises(ConfigError, match=r"unknown merge\.params section 'wiseft'\. Did you mean: wise_ft"):
        load_config(ProtocolConfig, None, ["merge.params.wiseft.alpha=3"])
    with pytest.raises(ConfigError, match=r"unknown config key 'merge.ties_topk'"):
        load_config(ProtocolConfig, None, ["merge.ties_topk=3"])
    with pytest.raises(ConfigError, match="expected a number"):
        load_config(ProtocolConfig, None, ["merge.params.ties.top_k=many"])


def test_shipped_merge_config_is_the_new_form_and_equals_the_defaults_it_documents():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cfg = load_config(ProtocolConfig, "configs/merge/demo.yaml")
    raw = yaml.safe_load(open("configs/merge/demo.yaml"))["merge"]
    assert not set(raw) & set(LEGACY_KEYS) and set(raw["params"]) == set(MergeConfig().params)
    assert cfg.merge.params == MergeConfig().params  # the file spells out today's defaults


def test_medclip_merge_prints_a_note_per_deprecated_key(tmp_path, capsys):
    from zeroshot.merging import cli as merge_cli

    with pytest.raises(SystemExit) as e:
        merge_cli.run(["--base", str(tmp_path / "no.pt"), "--expert", str(tmp_path / "no.pt"), "--out",
                       str(tmp_path / "o"), "merge.ties_top_k=5"])  # fmt: skip
    err = capsys.readouterr().err
    assert e.value.code == 2 and "checkpoint not found" in err
    assert "medclip-merge: note: merge config key 'ties_top_k' is deprecated; use 'merge.params.ties.top_k'" in err
    assert yaml.safe_load((tmp_path / "o" / "config.yaml").read_text())["merge"]["params"]["ties"]["top_k"] == 5.0
