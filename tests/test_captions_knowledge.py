"""The offline `knowledge` caption backend, label policies, config, stats and the eval-overlap report."""

import itertools
import re

import pytest
import yaml

from data_pipelines.captions import (
    CaptionConfig,
    CaptionConverter,
    LabelError,
    load_vocabulary,
    prompt_overlap,
)
from data_pipelines.captions.vocab import DATA_DIR
from medclip.config import ConfigError, load_config

DEMO = [
    ("xray", "chest", ["normal", "pneumonia", "pleural effusion", "cardiomegaly"]),
    ("ct", "abdomen", ["normal", "kidney stone", "liver lesion"]),
    ("mri", "brain", ["normal", "brain tumor"]),
    ("ultrasound", "breast", ["normal", "benign mass", "malignant mass"]),
    ("pathology", "colon", ["normal", "adenocarcinoma"]),
    ("fundus", "retina", ["normal", "diabetic retinopathy", "glaucoma"]),
]
TRIPLES = [(m, a, lab) for m, a, labs in DEMO for lab in labs]
KB = yaml.safe_load((DATA_DIR / "knowledge.yaml").read_text())


def words(s):
    return set(re.findall(r"[a-z0-9]+", s.lower().replace("-", " ")))


def surface_forms(label):
    spec = KB["findings"][label]
    return [label, *spec["synonyms"]]


def contains(caption, phrase):
    return re.search(r"\b" + re.escape(phrase.lower()) + r"(s|es)?\b", caption.lower()) is not None


def test_demo_triples_get_ten_distinct_captions_naming_the_finding():
    assert len(TRIPLES) == 17
    conv = CaptionConverter()
    for m, a, lab in TRIPLES:
        b = conv.bank(m, a, [lab])
        assert len(b.captions) == 10 and len(set(b.captions)) == 10, (m, lab)
        assert b.kinds == ["llm_template"] * 10 and b.backend == "knowledge" and not b.fallback
        for c1, c2 in itertools.combinations(b.captions, 2):
            w1, w2 = words(c1), words(c2)
            assert len(w1 & w2) / len(w1 | w2) < 0.9, (c1, c2)
        for c in b.captions:
            assert 4 <= len(c.split()) <= 40 and c[0].isupper() and c.endswith("."), c
            assert ".." not in c and "  " not in c
            if lab != "normal":
                assert any(contains(c, s) for s in surface_forms(lab)), c
        if lab != "normal":  # the label itself, not only synonyms, dominates
            assert sum(contains(c, lab) for c in b.captions) >= 6


def test_normal_captions_state_normality_and_name_no_finding():
    conv = CaptionConverter()
    findings = [s for f in KB["findings"] for s in surface_forms(f)] + ["mass", "lesion", "tumor", "stone"]
    for m, a, _ in DEMO:
        for c in conv.bank(m, a, ["normal"]).captions:
            low = c.lower()
            assert any(k in low for k in ("normal", "unremarkable", "no pathological", "no abnormal")), c
            assert not [f for f in findings if contains(c, f)], c
    # "no finding" and friends are the same normal class
    assert conv.bank("xray", "chest", ["No_Finding"]).labels == ("normal",)


def test_knowledge_captions_pass_the_llm_validator_without_typo_flags():
    conv = CaptionConverter()
    voc = load_vocabulary()
    for m, a, lab in TRIPLES:
        b = conv.bank(m, a, [lab])
        rep = conv.validator.validate(b.captions, [] if lab == "normal" else [voc.finding(lab)])
        assert rep.accepted == b.captions and not rep.rejected and not rep.unknown_words, (lab, rep)


def test_determinism_and_seed():
    a = [CaptionConverter().bank(*t[:2], [t[2]]) for t in TRIPLES]
    b = [CaptionConverter().bank(*t[:2], [t[2]]) for t in TRIPLES]
    assert [x.captions for x in a] == [x.captions for x in b]
    assert [x.bank_id for x in a] == [x.bank_id for x in b] and len({x.bank_id for x in a}) == 17
    c = [CaptionConverter(CaptionConfig(seed=1)).bank(*t[:2], [t[2]]) for t in TRIPLES]
    assert sum(x.captions != y.captions for x, y in zip(a, c)) >= 15


def test_multilabel_policies():
    labels = ["pleural effusion", "cardiomegaly"]
    comp = CaptionConverter().bank("xray", "chest", labels)
    assert comp.labels == ("cardiomegaly", "pleural effusion") and len(comp.captions) == 10
    for c in comp.captions:
        assert any(contains(c, s) for s in surface_forms("cardiomegaly")), c
        assert any(contains(c, s) for s in surface_forms("pleural effusion")), c
    assert CaptionConverter().bank("xray", "chest", labels[::-1]).bank_id == comp.bank_id

    per = CaptionConverter(CaptionConfig(multilabel_policy="per_label"))
    union = per.bank("xray", "chest", labels)
    singles = [CaptionConverter().bank("xray", "chest", [x]).captions for x in labels]
    assert union.captions == singles[0] + singles[1] and union.labels == tuple(labels)

    first = CaptionConverter(CaptionConfig(multilabel_policy="first")).bank("xray", "chest", labels)
    assert first.labels == ("pleural effusion",) and first.captions == singles[0]

    # normal is never mixed with a finding
    conv = CaptionConverter()
    b = conv.bank("xray", "chest", ["normal", "pneumonia"])
    assert b.labels == ("pneumonia",) and conv.stats()["normal_dropped"] == 1


@pytest.mark.parametrize(
    "policy, mixed, only_uncertain",
    [
        ("ignore", ("cardiomegaly",), LabelError),
        ("positive", ("cardiomegaly", "pneumonia"), ("pneumonia",)),
        ("negative", ("cardiomegaly",), ("normal",)),
    ],
)
def test_uncertain_label_policies(policy, mixed, only_uncertain):
    conv = CaptionConverter(CaptionConfig(uncertain_policy=policy))
    assert conv.bank("xray", "chest", {"cardiomegaly": 1, "pneumonia": -1, "edema": 0}).labels == mixed
    assert conv.bank("xray", "chest", ["cardiomegaly"], uncertain=["pneumonia"]).labels == mixed
    if only_uncertain is LabelError:
        with pytest.raises(LabelError, match="no label left"):
            conv.bank("xray", "chest", {"pneumonia": -1})
    else:
        assert conv.bank("xray", "chest", {"pneumonia": -1.0}).labels == only_uncertain
    with pytest.raises(LabelError, match="expected 1, 0 or -1"):
        conv.bank("xray", "chest", {"pneumonia": 2})
    with pytest.raises(LabelError):
        conv.bank("xray", "chest", [])


def test_unknown_label_modality_aliases_and_anatomy():
    conv = CaptionConverter()
    b = conv.bank("mr", "knee", ["Meniscal_Tear"])
    assert b.modality == "mri" and b.labels == ("meniscal tear",) and len(b.captions) == 10
    assert all("meniscal tear" in c.lower() for c in b.captions)
    assert all(any(k in c for k in ("MR", "magnetic resonance")) for c in b.captions)
    assert conv.bank("us", "breast", ["benign mass"]).modality == "ultrasound"
    assert conv.bank("histo", "colon", ["normal"]).modality == "pathology"
    assert conv.bank("weird-scanner", "", ["lesion"]).modality == "other"


def test_stats_report_matches_banks():
    conv = CaptionConverter(CaptionConfig(n_captions=8))
    banks = conv.banks([(m, a, [lab]) for m, a, lab in TRIPLES] * 2)
    st = conv.stats()
    assert st["records"] == 34 and st["triples"] == 17 and st["captions_total"] == 17 * 8
    assert st["captions_per_triple"] == {"min": 8, "mean": 8.0, "max": 8}
    distinct = len({c for b in banks[:17] for c in b.captions})
    assert st["distinct_caption_ratio"] == round(distinct / (17 * 8), 4)
    assert st["backends_used"] == {"knowledge": 17} and st["fallbacks"] == 0 and st["llm_calls"] == 0


def test_config_from_yaml_and_errors(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("backend: knowledge\nn_captions: 12\nmultilabel_policy: per_label\n")
    cfg = load_config(CaptionConfig, p, ["seed=3"])
    assert (cfg.n_captions, cfg.multilabel_policy, cfg.seed) == (12, "per_label", 3)
    assert len(CaptionConverter(cfg).bank("ct", "abdomen", ["kidney stone"]).captions) == 12
    with pytest.raises(ConfigError, match="n_captions"):
        load_config(CaptionConfig, None, ["n_caption=3"])
    with pytest.raises(ConfigError, match="multilabel_policy"):
        load_config(CaptionConfig, None, ["multilabel_policy=all"])
    with pytest.raises(ConfigError, match="model is required"):
        load_config(CaptionConfig, None, ["backend=openai"])


def test_eval_prompt_overlap_report():
    conv = CaptionConverter()
    train = [c for m, a, lab in TRIPLES for c in conv.bank(m, a, [lab]).captions]
    evals = [t.format(lab) for lab in {x[2] for x in TRIPLES} for t in ("a chest X-ray showing {}.", "an image of {}")]
    rep = prompt_overlap(evals, train)
    assert rep["exact"] == 0 and rep["near_duplicates"] == 0 and rep["max_jaccard"] < 0.9
    assert rep["n_eval"] == len(evals) and rep["n_train"] == 170
    leaked = prompt_overlap(evals + [train[5].upper()], train)
    assert leaked["exact"] == 1 and leaked["max_jaccard"] == 1.0 and leaked["worst"]["train"] == train[5]


def test_cli_preview_and_overlap_in_process(tmp_path, capsys):
    from data_pipelines.captions.cli import main

    assert main(["preview", "--modality", "us", "--anatomy", "breast", "--labels", "benign mass", "--set",
                 "n_captions=3"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert (
        "# ultrasound / breast / benign mass  backend=knowledge" in out
        and sum(ln.startswith("  ") and ln.endswith(".") for ln in out.splitlines()) == 3
    )
    ev = tmp_path / "ev.txt"
    bank = CaptionConverter().bank("xray", "chest", ["pneumonia"])
    ev.write_text(f"a chest x-ray showing pneumonia.\n{bank.captions[0]}\n")
    assert main(["overlap", "--eval-prompts", str(ev), "--modality", "xray", "--anatomy", "chest",
                 "--labels", "pneumonia"]) == 0  # fmt: skip
    assert '"exact": 1' in capsys.readouterr().out
    assert main(["preview", "--modality", "xray", "--labels", "x", "--set", "backend=openai"]) == 2
    assert "captions.model is required" in capsys.readouterr().err
