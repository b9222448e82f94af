"""Person-name detection: titles and cues ("Dr.", "Patient:", "signed by", "discussed with", ", MD") always
count; the name gazetteers count only outside eponym contexts ("Jones fracture", "pouch of Douglas")."""

from __future__ import annotations

import re
from collections.abc import Iterator

from . import gazetteer as gz

# one capitalised name word: Smith, O'Brien, McDonald, Smith-Jones, Smith's; or an all-caps one (SMITH)
CAP = r"(?:[A-Z]['\u2019])?[A-Z][a-z]+(?:[A-Z][a-z]+)?(?:-[A-Z][a-z]+)?(?:['\u2019]s)?"
UPPER = r"(?:[A-Z]['\u2019])?[A-Z]{2,}(?:-[A-Z]{2,})?"
NW = rf"(?:{CAP}|{UPPER})"
PARTICLE = r"(?:van|von|de|del|della|da|di|la|le|du|der|den|ter|bin|ibn|al|el)"
INITIAL = r"[A-Z](?:\.|(?![A-Za-z]))"
# a full name: optional initials, particles, up to three more words on the same line
NAME = rf"(?:{INITIAL}[ \t]?){{0,2}}(?:{PARTICLE}[ \t]+)*{NW}(?:[ \t]+(?:{INITIAL}(?![a-z])|(?:{PARTICLE}[ \t]+)*{NW})){{0,3}}"  # noqa: E501
LAST_FIRST = rf"{NW},[ \t]*{NW}(?:[ \t]+{INITIAL}(?![a-z]))?"

# capitalised words that end a name found after a title or cue ("Dr. Smith Findings: ...")
STOP = frozenset(
    """
    the an and or at on in of for to from with by was is has had reviewed called notified discussed findings
    impression comparison history technique indication exam study report clinical conclusion recommendation
    today yesterday tomorrow monday tuesday wednesday thursday friday saturday sunday january february march
    april may june july august september october november december hospital clinic center centre department
    radiology emergency er ed icu or ct mri mr us xr pet cxr ap pa lat phone tel fax pager ext md do rn np
    phd mbbs dictated signed electronically at who were please please final preliminary addendum date time
    mrn id acc accession dob age sex male female patient pt chest abdomen pelvis head brain spine neck knee hip
    shoulder lung lungs heart liver kidney views view dr mr mrs ms mx prof doctor professor miss unknown none
    pending team primary physician service staff declined self unavailable n/a na tbd emergency on-call
    """.split()
)

TITLE_RE = re.compile(rf"\b(?:(?:Dr|Mr|Mrs|Ms|Mx|Prof)\.?|Doctor|Professor|Miss)[ \t]+(?P<v>{NAME})")
_CUE_COLON = (
    r"(?i:patient(?:'s)?[ \t]+name|patient|pt|name|mother|father|spouse|wife|husband|son|daughter|guardian|"
    r"(?:emergency[ \t]+)?contact|next[ \t]+of[ \t]+kin|nok|guarantor|pcp|primary[ \t]+care(?:[ \t]+physician)?|"
    r"physician|provider|attending|radiologist|technologist|tech|resident|fellow|surgeon|reader|sonographer|"
    r"(?:referring|ordering|interpreting|reading)(?:[ \t]+(?:physician|provider|doctor|md|radiologist))?|"
    r"requested[ \t]+by|cc)"
)
_TITLE_OPT = r"(?:(?:Dr|Mr|Mrs|Ms|Mx|Prof)\.?[ \t]+)?"
CUE_COLON_RE = re.compile(rf"\b(?P<cue>{_CUE_COLON})[ \t]*[:=][ \t]*{_TITLE_OPT}(?P<v>{LAST_FIRST}|{NAME})")
_CUE_BY = (
    r"(?i:(?:electronically[ \t]+)?signed(?:[ \t]+out)?[ \t]+by|dictated[ \t]+by|read[ \t]+by|reviewed[ \t]+by|"
    r"transcribed[ \t]+by|interpreted[ \t]+by|referred[ \t]+by|verified[ \t]+by|approved[ \t]+by|"
    r"performed[ \t]+by|discussed[ \t]+with|communicated[ \t]+(?:to|with)|called[ \t]+to|reported[ \t]+to|"
    r"conveyed[ \t]+to|d/w|notified|paged|spoke[ \t]+(?:to|with)|attn|attention|c/o)|"
    # relatives and carers, lower case only ("Sister Mary Joseph nodule" is an eponym)
    r"(?:(?:his|her|their|the)[ \t]+)?(?:wife|husband|spouse|partner|son|daughter|mother|father|brother|sister|"
    r"nurse|caregiver|guardian|friend|neighbou?r)"
)
CUE_BY_RE = re.compile(rf"\b(?:{_CUE_BY})[ \t]*:?[ \t]*{_TITLE_OPT}(?P<v>{LAST_FIRST}|{NAME})")
_CRED = r"(?:MD|M\.D\.|RN|NP|PA-C|PhD|MBBS|MBChB|FRCR|FRCPC|FACR|DNP|RDMS|,[ \t]*(?:DO|D\.O\.|RT\(R\)))"
CRED_RE = re.compile(
    rf"(?P<v>(?:(?:{INITIAL}[ \t]?){{1,2}}|{NW}[ \t]+(?:{INITIAL}[ \t]?)?)?{NW})(?=,?[ \t]*{_CRED}(?![A-Za-z]))"
)

_CRED_HIT = re.compile(rf"{_CRED}(?![A-Za-z])")


def _cred_matches(text: str) -> Iterator[re.Match]:
    """``CRED_RE.finditer(text)``, scanning only the lines that hold a credential (speed only).

    No part of ``CRED_RE`` matches a newline, so each match lies inside one line, needs a credential on that
    line, and is found the same way by a scan of that line alone (a newline and the end of the text are
    alike to its look-aheads).
    """
    done = -1  # end of the last line scanned
    for h in _CRED_HIT.finditer(text):
        start = text.rfind("\n", 0, h.start()) + 1
        if start <= done:
            continue
        end = text.find("\n", h.start())
        done = end = len(text) if end < 0 else end
        yield from CRED_RE.finditer(text, start, end)


_CUE_BY_WORDS = (
    "signed", "dictated", "read", "reviewed", "transcribed", "interpreted", "referred", "verified", "approved",
    "performed", "discussed", "communicated", "called", "reported", "conveyed", "d/w", "notified", "paged", "spoke",
    "attn", "attention", "c/o", "wife", "husband", "spouse", "partner", "son", "daughter", "mother", "father",
    "brother", "sister", "nurse", "caregiver", "guardian", "friend", "neighbo",
)  # fmt: skip


def _may_match(rx: re.Pattern, text: str) -> bool:
    """False only when ``rx`` cannot match ``text`` (speed only): every TITLE_RE match holds a title, every
    CUE_COLON_RE match a ``:`` or ``=``, every CUE_BY_RE match a cue word (checked in the lower-cased text,
    for ASCII text only: IGNORECASE also folds a few non-ASCII letters onto ASCII ones)."""
    if rx is TITLE_RE:
        return any(w in text for w in ("Dr", "Mr", "Ms", "Mx", "Prof", "Doctor", "Miss"))
    if rx is CUE_COLON_RE:
        return ":" in text or "=" in text
    if rx is CUE_BY_RE and text.isascii():
        low = text.lower()
        return any(w in low for w in _CUE_BY_WORDS)
    return True


_WORD = re.compile(rf"{CAP}|{UPPER}|{INITIAL}(?=[ \t]+[A-Z])")
_NEXT_WORD = re.compile(r"\s*([A-Za-z]+)")
_PREV_WORDS = re.compile(r"([A-Za-z]+)\s+of\s+(?:the\s+)?$")


def _trim(text: str, start: int, end: int) -> int:
    """End of a cue-found name after dropping trailing stop words (``Dr. Smith Findings`` -> ``Smith``)."""
    words = list(re.finditer(r"\S+", text[start:end]))
    keep = len(words)
    while keep > 1 and words[keep - 1].group(0).strip(".,").lower() in STOP:
        keep -= 1
    return start + words[keep - 1].end()


# "Exam Name:", "Series Name:" name a thing, not a person
_THING = frozenset(
    """
    exam study series procedure protocol file drug device product test order sequence scan report institution
    facility hospital site user host station model scanner implant medication trade brand generic
    """.split()
)
_PREV_WORD = re.compile(r"([A-Za-z]+)[ \t]*$")


def strong_names(text: str) -> Iterator[tuple[int, int]]:
    """Names announced by a title, a cue or a credential (the allowlist does not apply)."""
    for rx in (TITLE_RE, CUE_COLON_RE, CUE_BY_RE, CRED_RE):
        if not _may_match(rx, text):
            continue
        for m in _cred_matches(text) if rx is CRED_RE else rx.finditer(text):
            if "cue" in rx.groupindex and m.group("cue").lower() == "name":
                prev = _PREV_WORD.search(text[max(0, m.start() - 30) : m.start()])
                if prev and prev.group(1).lower() in _THING:
                    continue
            s, e = m.span("v")
            if all(w.strip(".,").lower() in STOP for w in text[s:e].split()):
                continue
            yield s, _trim(text, s, e)


def _eponym_context(text: str, start: int, end: int) -> bool:
    """Whether the words at ``start:end`` are an eponym or anatomy ("Jones fracture", "pouch of Douglas")."""
    nxt = _NEXT_WORD.match(text, end)
    # skip further capitalised words: "Miller Fisher syndrome", "Austin Flint murmur"
    while nxt and nxt.group(1)[0].isupper() and nxt.group(1).lower() not in gz.EPONYM_HEADS:
        nxt = _NEXT_WORD.match(text, nxt.end())
    if nxt and nxt.group(1).lower() in gz.EPONYM_HEADS:
        return True
    if text[end : end + 1] == "-" and _NEXT_WORD.match(text, end + 1):  # "Hill-sachs", "Dandy-walker"
        return True
    prev = _PREV_WORDS.search(text[max(0, start - 40) : start])
    return bool(prev and prev.group(1).lower() in gz.ANATOMY_OF)


def gazetteer_names(text: str) -> Iterator[tuple[int, int]]:
    """Names found through the given / family name lists, outside eponym contexts."""
    g = gz.lists()
    words = list(_WORD.finditer(text))
    i = 0
    while i < len(words):
        w = words[i]
        k = gz.key(w.group(0))
        j = i
        is_initial = len(w.group(0).rstrip(".")) == 1
        # "<given> [I.] <Family>" or "J. <Family>"
        if k in g["first"] or is_initial:
            j2 = i + 1
            if j2 < len(words) and len(words[j2].group(0).rstrip(".")) == 1 and not is_initial:
                j2 += 1  # middle initial
            if j2 < len(words) and _adjacent(text, words[j2 - 1], words[j2]):
                nk = gz.key(words[j2].group(0))
                ok = (not is_initial and (k not in g["ambiguous"] or nk in g["last"])) or (
                    is_initial and nk in g["last"]
                )
                if ok and len(words[j2].group(0).rstrip(".")) > 1 and nk not in gz.EPONYM_HEADS:
                    j = j2
        # "<Family>, <given>"
        if j == i and k in g["last"] and i + 1 < len(words):
            nxt = words[i + 1]
            if text[w.end() : nxt.start()].strip() == "," and gz.key(nxt.group(0)) in g["first"]:
                j = i + 1
        start, end = w.start(), words[j].end()
        alone = not is_initial and gz.standalone_name(w.group(0)) and not _short_caps(w.group(0))
        if j > i or alone:
            if not _eponym_context(text, start, end):
                yield start, end
        i = j + 1


def _short_caps(word: str) -> bool:
    """All-caps words under four letters are abbreviations far more often than names (ANA, HU, LI)."""
    return word.isupper() and len(word) < 4


def _adjacent(text: str, a: re.Match, b: re.Match) -> bool:
    gap = text[a.end() : b.start()]
    return 0 < len(gap) <= 2 and not gap.strip()
