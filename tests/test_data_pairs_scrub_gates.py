"""The scrubber's speed-ups (pattern gates, per-line credential scan, memoised short texts) never change what
it finds: candidate spans equal those of every pattern run on the whole text, on the de-identification corpus
and on variants (upper / lower case, non-ASCII letters that IGNORECASE folds onto ASCII ones)."""

from __future__ import annotations

from data_pipelines.deid import names, rules, scrub
from data_pipelines.deid.corpus import bare_name_corpus, control_corpus, hard_corpus, planted_corpus


def _ungated_regex(text):
    for cls, patterns, strong in rules.DETECTORS:
        for rx in patterns:
            for m in rx.finditer(text):
                s, e = m.span("v") if "v" in rx.groupindex else m.span()
                keep = rules._FILTERS.get(id(rx))
                if e > s and (keep is None or keep(text[s:e])):
                    yield s, e, cls, strong


def _ungated_strong(text):
    for rx in (names.TITLE_RE, names.CUE_COLON_RE, names.CUE_BY_RE, names.CRED_RE):
        for m in rx.finditer(text):
            if "cue" in rx.groupindex and m.group("cue").lower() == "name":
                prev = names._PREV_WORD.search(text[max(0, m.start() - 30) : m.start()])
                if prev and prev.group(1).lower() in names._THING:
                    continue
            s, e = m.span("v")
            if all(w.strip(".,").lower() in names.STOP for w in text[s:e].split()):
                continue
            yield s, names._trim(text, s, e)


def _texts():
    docs = planted_corpus(300, seed=21) + control_corpus(200, seed=4) + bare_name_corpus(100, seed=8) + hard_corpus()
    texts = [d.text for d in docs]
    lines = [ln for t in texts[:200] for ln in t.splitlines()]
    folded = [t.replace("s", "\u017f").replace("k", "\u212a") for t in texts[:80]]  # long s, Kelvin sign
    extra = [
        "Signed by Ana Li, MD\nsecond line J. Smith RN", "Zip: 02115", "P.O. Box 12", "lives at 12 Elm Road.",
        "first of March 2020", "10.0.0.1 and 1.2.840.10008.1", "ssn 123-45-6789", "Pt is 95.", "age ninety-two",
        "ab:cd:ef:01:23:45:67:89", "www.example.org/x", "mail a@b.co", "the patient's wife Mary Jones called",
    ]  # fmt: skip
    return texts + lines + [t.upper() for t in texts[:80]] + [t.lower() for t in texts[:80]] + folded + extra


def test_gated_patterns_find_exactly_what_every_pattern_finds():
    for t in _texts():
        assert sorted(rules._regex_spans(t)) == sorted(_ungated_regex(t)), t
        assert list(names.strong_names(t)) == list(_ungated_strong(t)), t


def test_memoised_short_texts_scrub_like_uncached_ones():
    rules._cached_spans.cache_clear()
    for t in _texts()[:400]:
        first, again = scrub(t), scrub(t)  # the second comes from the memo
        assert first == again and list(first.spans) == rules._find_spans(t)
    assert rules._cached_spans.cache_info().hits >= 1
