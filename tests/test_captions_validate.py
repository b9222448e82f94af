"""Caption validation: answer parsing, lint, negation, the normal rule, lengths, typos, near duplicates."""

import pytest

from data_pipelines.captions import CaptionValidator, load_vocabulary, parse_caption_list
from data_pipelines.captions.text import dedup, jaccard, lint, mentions

VOC = load_vocabulary()
PNEU = VOC.finding("pneumonia")
EFF = VOC.finding("pleural effusion")


@pytest.mark.parametrize(
    "answer, expected",
    [
        ('["A b c.", "D e f."]', ["A b c.", "D e f."]),
        ('Here you go:\n```json\n["A b c.", "D e f."]\n```\nHope it helps', ["A b c.", "D e f."]),
        ('Sure. ["A b c.", "D e f."] Anything else?', ["A b c.", "D e f."]),
        ('{"captions": ["A b c.", "D \\"e\\" f."]}', ["A b c.", 'D "e" f.']),
        ('["A b c.", "D e f.", "G h', ["A b c.", "D e f."]),  # truncated: complete strings kept
        ('["A b c.", 3, null]', ["A b c."]),
    ],
)
def test_parse_caption_list(answer, expected):
    assert parse_caption_list(answer) == expected


@pytest.mark.parametrize("answer", ["", "no list here", '{"a": 1}', "[1, 2, 3]", '["unterminated'])
def test_parse_caption_list_rejects(answer):
    with pytest.raises(ValueError):
        parse_caption_list(answer)


def test_lint_fixes():
    assert lint("  the   chest radiograph demonstrates pneumonia.. ") == (
        "The chest radiograph demonstrates pneumonia.",
        ["whitespace", "punctuation", "capitalised"],
    )
    assert lint("1. Effusion ,, left side !!")[0] == "Effusion, left side!"
    assert lint('"Cardiomegaly is present"') == ("Cardiomegaly is present.", ["final_period"])
    assert lint("- Impression: normal study. .")[0] == "Impression: normal study."


@pytest.mark.parametrize(
    "text, negated",
    [
        ("No pleural effusion.", [True]),
        ("Pleural effusion is absent on this film.", [True]),
        ("There is no evidence of pneumothorax or pleural effusion.", [True]),
        ("Small pleural effusion without pneumothorax.", [False]),
        ("No pneumothorax, but a large pleural effusion.", [False]),
        ("No consolidation. Moderate pleural effusion on the left.", [False]),
        ("Right pleural effusion; no left pleural effusion.", [False, True]),
    ],
)
def test_negation_scope(text, negated):
    assert [neg for _, neg in mentions(text, ["pleural effusion"])] == negated


def test_validator_rules():
    v = CaptionValidator(VOC)
    ok = "Chest radiograph demonstrates right lower lobe pneumonia."
    assert v.check(ok, [PNEU]) == (ok, None, [])
    assert v.check("chest radiograph with bronchopneumonia  of the right base", [PNEU])[0] == (
        "Chest radiograph with bronchopneumonia of the right base."
    )
    assert v.check("Chest radiograph demonstrates a pleural effusion.", [PNEU])[1] == "missing_finding"
    assert v.check("No evidence of pneumonia on this chest radiograph.", [PNEU])[1] == "negated_finding"
    assert v.check("Pneumonia.", [PNEU])[1] == "too_short"
    assert v.check(" ".join(["pneumonia"] * 60), [PNEU])[1] == "too_long"
    assert v.check("", [PNEU])[1] == "empty"
    # compose: every finding must be named
    assert v.check("Pneumonia with a small pleural effusion on the left.", [PNEU, EFF])[1] is None
    assert v.check("Pneumonia in the right lower lobe is seen.", [PNEU, EFF])[1] == "missing_finding"
    # normal: must say so, must not assert a finding (negated mentions are fine)
    assert v.check("Normal chest radiograph; no effusion or consolidation.", [])[1] is None
    assert v.check("Unremarkable study without pneumothorax, mass or fracture.", [])[1] is None
    assert v.check("Normal heart size with a small left pleural effusion.", [])[1] == "normal_asserts_finding"
    assert v.check("Normal study, but a mass in the upper lobe.", [])[1] == "normal_asserts_finding"
    assert v.check("Clear lungs and a sharp costophrenic angle.", [])[1] == "normal_not_stated"
    # token limit with a custom counter
    tight = CaptionValidator(VOC, max_tokens=8, count_tokens=lambda s: 2 * len(s.split()))
    assert tight.check(ok, [PNEU])[1] == "too_many_tokens"


def test_typo_flagging_and_rejection():
    bad = "Chest radiograph demonstrates pneumonia and cardiomeg bital acy with splean."
    clean, reason, unknown = CaptionValidator(VOC).check(bad, [PNEU])
    assert reason is None and set(unknown) == {"cardiomeg", "bital", "acy", "splean"}
    assert CaptionValidator(VOC, typo_policy="reject").check(bad, [PNEU])[1] == "typo"
    rep = CaptionValidator(VOC).validate([bad, "Frontal radiograph with patchy perihilar pneumonia."], [PNEU])
    assert rep.unknown_words == {"cardiomeg": 1, "bital": 1, "acy": 1, "splean": 1}


def test_duplicates_and_near_duplicates():
    base = "Frontal chest radiograph demonstrates a dense consolidation in the right lower lobe from pneumonia."
    near = base.replace("dense", "DENSE").replace("right", "left")  # 1 of 13 words swapped
    assert 0.85 < jaccard(base, near) < 0.9
    twelve = "Pneumonia seen as dense consolidation in the right lower lobe on this chest radiograph today."
    nearer = twelve.replace("today", "again")
    j = jaccard(twelve, nearer)
    assert j == pytest.approx(14 / 16)
    longer = " ".join(f"w{i}" for i in range(20)) + " pneumonia"
    longer2 = longer.replace("w3", "x3")  # 20 of 22 shared -> 0.909
    assert jaccard(longer, longer2) == pytest.approx(20 / 22)
    kept, dropped = dedup([base, base.lower() + "!", longer, longer2, near], 0.9)
    assert kept == [base, longer, near] and dropped == 2
    rep = CaptionValidator(VOC, typo_policy="flag").validate([base, base + " ", "  " + base.upper()], [PNEU])
    assert rep.accepted == [base] and rep.rejected["duplicate"] == 2
