"""The scrubber's detectors (one regular expression family per identifier class) and span resolution.

Every detector yields character spans of the input. Overlaps are resolved longest-first, cue-announced
detections before gazetteer ones; same-class spans separated only by spaces are merged.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from .names import gazetteer_names, strong_names

PHI_CLASSES = ("NAME", "DATE", "ID", "PHONE", "ADDRESS", "AGE", "INSTITUTION", "EMAIL", "URL", "IP")


@dataclass(frozen=True, order=True)
class Span:
    """``text[start:end]`` is an identifier of class ``cls`` (one of :data:`PHI_CLASSES`)."""

    start: int
    end: int
    cls: str


_I = re.IGNORECASE
MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December|"
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\.?|JAN|FEB|MAR|APR|MAY|JUNE?|JULY?|AUG|SEPT?|OCT|NOV|DEC)"
)
_WEEKDAY = r"(?:(?:Mon|Tues?|Wed(?:nes)?|Thu(?:rs)?|Fri|Sat(?:ur)?|Sun)(?:day)?\.?,?\s+)?"
_ORD = r"(?:st|nd|rd|th)?"
_DAY = r"(?:3[01]|[12]\d|0?[1-9])(?!\d)"
_MON = r"(?:1[0-2]|0?[1-9])(?!\d)"
_TIME = r"(?:(?:[ \t]+at[ \t]+|[ \t]+|T)\d{1,2}:\d{2}(?::\d{2})?(?:[ \t]*[AaPp]\.?[Mm]\.?)?|\b)"
_DATE_KEY = (
    r"(?i:dob|d\.o\.b\.?|date[ \t]+of[ \t]+(?:birth|service|exam|study|admission|discharge|death|procedure)|"
    r"birth[ \t]*date|born(?:[ \t]+on)?|admitted(?:[ \t]+on)?|discharged(?:[ \t]+on)?|exam[ \t]+date|"
    r"study[ \t]+date|dos|dod|deceased|lmp|edd|edc|due[ \t]+date)"
)
DATE_RES = [
    re.compile(rf"\b{_WEEKDAY}(?:19|20)\d{{2}}[-/.]{_MON}[-/.]{_DAY}{_TIME}"),
    re.compile(rf"\b{_WEEKDAY}{_DAY}[-/.]{_DAY}[-/.](?:\d{{4}}|\d{{2}}){_TIME}"),
    re.compile(rf"\b{_WEEKDAY}{_DAY}{_ORD}[ \t]+(?:of[ \t]+)?{MONTH},?[ \t]+\d{{2,4}}{_TIME}"),
    re.compile(rf"\b{_WEEKDAY}{MONTH}[ \t]+{_DAY}{_ORD}(?:,?[ \t]+\d{{4}}|,[ \t]*'?\d{{2}})?{_TIME}"),  # noqa: E501
    re.compile(rf"\b{_DAY}[-/ ]{MONTH}[-/ ](?:\d{{4}}|\d{{2}}){_TIME}"),
    re.compile(rf"\b{MONTH}[-/]{_DAY}[-/]\d{{4}}\b"),
    re.compile(rf"\b{MONTH},?[ \t]+(?:of[ \t]+)?(?:19|20)\d{{2}}\b"),
    re.compile(rf"\b{_DAY}{MONTH}(?:19|20)?\d{{2}}\b"),  # 04MAR2021
    re.compile(
        rf"(?i:\b(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|"
        rf"thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|"
        rf"twenty[- ](?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth)|thirtieth|thirty[- ]first)"
        rf"[ \t]+of[ \t]+){MONTH}(?:,?[ \t]+\d{{4}})?"
    ),
    re.compile(r"\b(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?:T?\d{4,6})?\b"),
    re.compile(rf"\b{_DATE_KEY}[ \t]*[:#]?[ \t]*(?P<v>{_MON}[-/.]{_DAY}\b)"),
    re.compile(
        rf"(?i:\b(?:on|dated|since|until|through|prior\s+(?:study|exam)\s+of))\s+(?P<v>{_MON}/{_DAY})\b(?!/)"  # noqa: E501
    ),  # noqa: E501
]

_ID_KEY = (
    r"(?i:mrn|mr[ \t]?#|mr[ \t]?no\.?|medical[ \t]+record(?:[ \t]+(?:number|no\.?|#))?|record[ \t]+(?:number|no\.?|#)|"
    r"accession(?:[ \t]+(?:number|no\.?|#))?|acc(?:ession)?[ \t]?#|acc\.?[ \t]?no\.?|acc|"
    r"(?:patient|pt|study|exam|order|encounter|visit|member|insurance|device|implant|specimen|case|unit)[ \t]?"
    r"(?:id|#|number|no\.?)|encounter|account(?:[ \t]+(?:number|no\.?|#))?|acct\.?(?:[ \t]?(?:number|no\.?|#))?|"
    r"fin|csn|ssn|social[ \t]+security(?:[ \t]+(?:number|no\.?|#))?|nhs(?:[ \t]+(?:number|no\.?))?|"
    r"health[ \t]+plan(?:[ \t]+(?:number|no\.?|#|id))?|beneficiary(?:[ \t]+(?:number|no\.?|#|id))?|"
    r"policy(?:[ \t]+(?:number|no\.?|#))?|licen[cs]e(?:[ \t]+(?:number|no\.?|#))?|lic\.?[ \t]?#|dea(?:[ \t]?#)?|"
    r"npi|serial(?:[ \t]+(?:number|no\.?|#))?|s/n|vin|plate(?:[ \t]+(?:number|no\.?|#))?|"
    r"requisition(?:[ \t]+(?:number|no\.?|#))?|ref(?:erence)?[ \t]+(?:number|no\.?|#)|id|uid|"
    r"certificate(?:[ \t]+(?:number|no\.?|#))?)"
)
ID_RES = [
    re.compile(
        rf"\b{_ID_KEY}[ \t]*(?:[:#=]|no\.?|number)?[ \t]*(?:[:#=][ \t]*)?"
        r"(?P<v>(?=[A-Za-z0-9./-]*\d)[A-Za-z0-9](?:[A-Za-z0-9]|[-/.](?=[A-Za-z0-9])|[ ](?=\d)(?<=\d[ ])){3,30})"
    ),
    re.compile(r"\b\d{3}-\d{2}-\d{4}\b"),  # SSN
    re.compile(r"\b[A-Z]{1,5}-?\d{5,}(?:-\d+)*\b"),
    re.compile(r"\b[A-Z]{2,5}-(?:19|20)\d{2}-\d{3,}\b"),
    re.compile(r"\b\d{2,5}-\d{5,}(?:-\d+)*\b"),
    re.compile(r"\b\d{7,}\b"),
    re.compile(r"(?<![\w&])#[ \t]?\d{4,}\b"),
    re.compile(r"\b\d+(?:\.\d+){4,}\b"),  # DICOM UIDs
]

_PHONE_KEY = (
    r"(?i:phone|tel|telephone|ph|fax|pager|page|beeper|cell|mobile|contact[ \t]+(?:number|no\.?)|call[ \t]?back|ext)"  # noqa: E501
)
PHONE_RES = [
    re.compile(
        r"(?<![\w-])(?:\+?1[ \t.-]?)?(?:\(\d{3}\)[ \t]?|\d{3}[ \t.-])\d{3}[ \t.-]\d{4}"
        r"(?:[ \t]*(?:x|ext\.?|extension)[ \t]*\d{1,5})?(?![\w-])"
    ),
    re.compile(r"(?<![\w-])\+\d{1,3}(?:[ \t.-]?\(?\d{1,4}\)?){2,5}\d(?![\w-])"),
    re.compile(rf"\b{_PHONE_KEY}\.?[ \t]*(?:#|no\.?|number)?[ \t]*:?[ \t]*(?P<v>\(?\d[\d() \t.-]{{2,16}}\d)"),
]

EMAIL_RE = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\b")
URL_RES = [
    re.compile(r"\b(?:https?|ftp|sftp|dicom|file)://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]"),
    re.compile(r"\bwww\.[^\s<>\"']+[^\s<>\"'.,;:!?)\]]"),
    re.compile(
        r"\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|org|net|edu|gov|io|health|info|biz)(?:/[^\s<>\"']*[^\s<>\"'.,;:!?)\]])?\b"  # noqa: E501
    ),  # noqa: E501
]
IP_RES = [
    re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?::\d{2,5})?(?!\.?\d)"),
    re.compile(r"\b(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}\b"),
]

_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|"
    r"Parkway|Pkwy|Circle|Cir|Highway|Hwy|Square|Sq|Trail|Trl|Crescent|Close|Row|Alley|Plaza|Pike|Loop)"
)
# two-letter codes that are also clinical abbreviations (MD, PA, CT, CA...) count only with a ZIP code
_STATE_AMBIGUOUS = r"(?:MD|PA|CT|LA|CA|OR|IN|ME|DE|CO|MS|OK|HI|ID|AR|MO|NE|OH|AL)"
_STATE = (
    r"(?:AK|AZ|DC|FL|GA|IL|IA|KS|KY|MA|MI|MN|MT|NV|NH|NJ|NM|NY|NC|ND|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|"
    r"Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|"
    r"Hawaii|Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|Minnesota|"
    r"Mississippi|Missouri|Montana|Nebraska|Nevada|New[ \t]+Hampshire|New[ \t]+Jersey|New[ \t]+Mexico|New[ \t]+York|"
    r"North[ \t]+Carolina|North[ \t]+Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|Rhode[ \t]+Island|South[ \t]+Carolina|"
    r"South[ \t]+Dakota|Tennessee|Texas|Utah|Vermont|Virginia|Washington|West[ \t]+Virginia|Wisconsin|Wyoming)"
)
_PLACE = r"[A-Z][a-z]+(?:[ \t]+[A-Z][a-z]+){0,2}"
_ZIP = r"\d{5}(?:-\d{4})?"
_CITY_STATE = rf"{_PLACE},[ \t]*(?:{_STATE}\b\.?(?:[ \t]+{_ZIP})?|{_STATE_AMBIGUOUS}[ \t]+{_ZIP})"
_UNIT = r"(?:,?[ \t]*(?:Apt|Apartment|Suite|Ste|Unit|Fl|Floor|Room|Rm|Bldg|#)\.?[ \t]*#?[A-Za-z0-9-]+)?"
ADDRESS_RES = [
    re.compile(
        rf"\b\d{{1,6}}[A-Z]?[ \t]+(?:(?:[NSEW]|North|South|East|West|N\.E\.|NE|NW|SE|SW)\.?[ \t]+)?"
        rf"(?:(?:\d{{1,3}}(?:st|nd|rd|th)|[A-Z][a-z]+|[A-Z]{{2,}})[ \t]+){{1,4}}{_SUFFIX}\b\.?{_UNIT}"
        rf"(?:,?[ \t]*{_CITY_STATE}|,[ \t]*{_PLACE}(?:[ \t]+[A-Z]{{1,2}}\d[A-Z\d]?[ \t]?\d[A-Z]{{2}})?)?"
    ),
    re.compile(rf"\b{_CITY_STATE}"),
    re.compile(r"\bP\.?[ \t]?O\.?[ \t]+Box[ \t]+\d+\b", _I),
    re.compile(rf"\b{_PLACE}[ \t]+(?i:county|parish|township|borough)\b"),
    re.compile(
        r"\b(?i:zip|zip[ \t]+code|postal[ \t]+code|postcode)[ \t]*:?[ \t]*(?P<v>\d{5}(?:-\d{4})?|[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2})\b"  # noqa: E501
    ),  # noqa: E501
    re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?[ \t]\d[ABD-HJLNP-UW-Z]{2}\b"),  # UK postcode
    re.compile(
        r"(?i:\b(?:home[ \t]+)?address|\baddr\.?|\bresidence|\blives[ \t]+at|\bresides[ \t]+at)[ \t]*:?[ \t]*(?P<v>\d[^\n;]{3,80}?)(?=[ \t]*(?:\n|;|$|\.(?:\s|$)))"  # noqa: E501
    ),  # noqa: E501
    re.compile(
        rf"(?i:\b(?:lives|living|resides|residing)[ \t]+in|\bresident[ \t]+of|\bnative[ \t]+of|\bfrom[ \t]+the[ \t]+town[ \t]+of)[ \t]+(?P<v>{_PLACE})"  # noqa: E501
    ),  # noqa: E501
]

_AGE_NUM = r"(?:9\d|1[0-4]\d)"
_AGE_WORD = (
    r"(?i:(?:ninety|one[ \t]+hundred)(?:[- \t]+(?:and[ \t]+)?(?:one|two|three|four|five|six|seven|eight|nine|ten|"
    r"eleven|twelve))?)"
)
# "93F" / "93M" count, "99 F" (a temperature) does not
AGE_RES = [
    re.compile(
        rf"\b(?P<v>{_AGE_NUM}|{_AGE_WORD})(?=[ \t]*-?[ \t]*(?i:years?|yrs?|y)[ \t-]*(?i:old|o\b|/o)|"
        rf"[ \t]*(?i:yo|y/o|y\.o\.|yoM|yoF)\b|[ \t]*(?i:years?|yrs?)[ \t]+of[ \t]+age|(?:M|F)\b(?![-/])|"
        rf"[ \t]+(?i:male|female|man|woman|gentleman|lady)\b)"
    ),
    re.compile(rf"(?i:\bage[d]?|\bage:)[ \t]*:?[ \t]*(?P<v>{_AGE_NUM}|{_AGE_WORD})\b"),
    re.compile(r"(?i:\bin[ \t]+(?:his|her|their)[ \t]+(?:(?:late|early|mid)[- \t]?)?(?:nineties|90s|90's|hundreds))"),
    re.compile(r"(?i:\b(?:nonagenarian|centenarian)\b)"),
    re.compile(
        rf"(?i:\b(?:patient|pt|he|she)[ \t]+is[ \t]+)(?P<v>{_AGE_NUM})\b(?![ \t]*(?:%|/|\.\d|(?i:kg|lbs?|cm|mm|mg|ml|bpm|beats|percent|degrees)\b))"  # noqa: E501
    ),
]

_INST_SUFFIX = (
    r"(?:Hospital|Hospitals|Medical[ \t]+Center|Medical[ \t]+Centre|Health[ \t]+Center|Health[ \t]+Centre|Clinic|"
    r"Clinics|Infirmary|Health[ \t]+System|Healthcare|Health[ \t]+Care|Medical[ \t]+Group|Imaging[ \t]+Center|"
    r"Imaging|Radiology[ \t]+Associates|Cancer[ \t]+Center|Cancer[ \t]+Institute|Institute|Sanatorium|Hospice|"
    r"Nursing[ \t]+Home|Rehabilitation[ \t]+Center|Surgery[ \t]+Center|Medical[ \t]+College|School[ \t]+of[ \t]+Medicine|"  # noqa: E501
    r"University|College|NHS[ \t]+(?:Foundation[ \t]+)?Trust|Health[ \t]+Authority|Medical[ \t]+Associates|"
    r"Children's[ \t]+Hospital|Memorial|Polyclinic|Health|Orthopa?edics|Diagnostics|Associates|Partners|Physicians|"
    r"Urgent[ \t]+Care|Surgical[ \t]+Center)"
)
_INST_WORD = r"(?:[A-Z][a-z]+(?:[-'\u2019][A-Za-z]+)*|[A-Z]{2,}|St\.?|Mt\.?)"
_GENERIC = r"(?!(?:Outside|Local|Referring|This|Our|The|Your|An?|Other|Same|Prior|Previous|Any|Hospital|Clinic)\b)"
INSTITUTION_RES = [
    re.compile(
        rf"\b{_GENERIC}{_INST_WORD}(?:[ \t]+(?:(?:and|&|of|the|for|de|la)[ \t]+)?{_INST_WORD}){{0,5}}[ \t]+{_INST_SUFFIX}\b"  # noqa: E501
    ),
    re.compile(
        rf"\b(?:University|Univ\.?|Hospital|Institute|Clinic|Hospital[ \t]+Universitario)[ \t]+(?:of|for|de)[ \t]+"
        rf"(?:the[ \t]+)?{_INST_WORD}(?:[ \t]+(?:(?:and|&|of|the|at)[ \t]+)?{_INST_WORD}){{0,4}}"
    ),
    re.compile(
        r"\b(?:Mayo|Cleveland)[ \t]+Clinic\b|\bKaiser(?:[ \t]+Permanente)?\b|\bJohns[ \t]+Hopkins\b|\bMass[ \t]+General\b|"  # noqa: E501
        r"\bMount[ \t]+Sinai\b|\bCedars[- ]Sinai\b|\bMD[ \t]+Anderson\b|\b(?:Memorial[ \t]+)?Sloan[- ]Kettering\b|"
        r"\bNYU[ \t]+Langone\b|\bUCSF\b|\bUCLA\b|\bMGH\b|\bBWH\b|\bMSKCC\b|\bUPMC\b|\bCHOP\b|\bAddenbrooke's\b|"
        r"\bCharit[e\u00e9]\b|\bKarolinska\b|\bGuy's\b|\bBrigham\b|\bMethodist\b|\bPresbyterian\b"
    ),
    re.compile(
        r"(?i:\b(?:institution|facility|hospital|site|location|performed[ \t]+at|referring[ \t]+facility|"
        r"transferred[ \t]+from|outside[ \t]+hospital))[ \t]*:[ \t]*(?P<v>[A-Z][^\n;:]{2,60}?)(?=[ \t]*(?:\n|;|$|\.(?:\s|$)))"  # noqa: E501
    ),
]

# words that name a kind of service, not a place: "Sleep Clinic", "Diagnostic Imaging", "Mental Health" and
# "American College (of Radiology)" are not institutions unless another word names one
_GENERIC_INST = frozenset(
    """
    diagnostic breast nuclear medicine mental sleep cardiology pain heart community women's womens children's
    childrens cancer radiology imaging surgery surgical orthopedic orthopaedic neurology oncology pediatric
    paediatric family primary care urgent dialysis wound eye vascular fertility rehabilitation general regional
    medical health outpatient inpatient emergency public specialty dental physical therapy behavioral psychiatric
    american national international interventional clinical university memorial the of and for & st. st mt.
    orthopedics orthopaedics diagnostics associates partners physicians sports
    mt day ambulatory teaching academic department division service section unit center centre program laboratory
    lab clinic clinics hospital hospitals institute infirmary college school per see at from to in on by with refer
    referred transfer transferred prior outside this our your a an as via seen followed follow
    """.split()
)


def _real_institution(match: str) -> bool:
    words = re.findall(r"[A-Za-z'’.&]+", match)
    return any(w.lower().replace("’", "'") not in _GENERIC_INST for w in words[:-1]) and not all(
        w.lower() in _GENERIC_INST for w in words
    )


_FILTERS = {id(INSTITUTION_RES[0]): _real_institution}

# (class, patterns, strong): strong detections win overlaps against gazetteer names
DETECTORS: list[tuple[str, list[re.Pattern], bool]] = [
    ("EMAIL", [EMAIL_RE], True),
    ("URL", URL_RES, True),
    ("IP", IP_RES, True),
    ("DATE", DATE_RES, True),
    ("PHONE", PHONE_RES, True),
    ("ID", ID_RES, True),
    ("AGE", AGE_RES, True),
    ("ADDRESS", ADDRESS_RES, True),
    ("INSTITUTION", INSTITUTION_RES, True),
]
_PLACEHOLDERS = re.compile(r"\[(?:" + "|".join(PHI_CLASSES) + r")\]")
_RANK = {c: i for i, c in enumerate(PHI_CLASSES)}

# Gates (speed only): a cheap test that is false only when a pattern cannot match anywhere in the text, so
# skipping the pattern then changes nothing. Each gate names a part that every match of its pattern contains:
# a digit (``\d``, as in the patterns), a literal, or a keyword of a case-insensitive alternation. Keyword
# tests look at ``text.lower()`` and are used for ASCII text only (re's IGNORECASE also folds a few non-ASCII
# letters such as the long s and the Kelvin sign onto ASCII ones; other texts always run every pattern).
_DIGIT_RE = re.compile(r"\d")
_MONTH_RE = re.compile(MONTH)  # DATE_RES[2:9] all contain MONTH (case-sensitive there too)
_DOTTED_RE = re.compile(r"\d\.\d+\.\d")  # an IPv4 address and a DICOM UID contain "d.dd.d"
_OF_MONTH_RE = re.compile(rf"[oO][fF][ \t]+{MONTH}")  # DATE_RES[8]: "<ordinal> of <month>"


class _Text:
    """A text and the facts the gates share (each computed once, on first use)."""

    __slots__ = ("text", "_low", "_digit", "_month")

    def __init__(self, text: str):
        self.text, self._low, self._digit, self._month = text, False, None, None

    @property
    def low(self) -> str | None:
        """``text.lower()`` for ASCII text, else None (keyword gates then pass)."""
        if self._low is False:
            self._low = self.text.lower() if self.text.isascii() else None
        return self._low

    @property
    def digit(self) -> bool:
        if self._digit is None:
            self._digit = _DIGIT_RE.search(self.text) is not None
        return self._digit

    @property
    def month(self) -> bool:
        if self._month is None:
            self._month = _MONTH_RE.search(self.text) is not None
        return self._month

    def has(self, *literals: str) -> bool:
        """Some literal occurs in the text (case-sensitive)."""
        return any(w in self.text for w in literals)

    def kw(self, *words: str) -> bool:
        """Some keyword occurs in the lower-cased text (always true for non-ASCII text)."""
        low = self.low
        return low is None or any(w in low for w in words)


def _digit(t: _Text) -> bool:
    return t.digit


_INST_SUFFIX_WORDS = (
    "Hospital", "Medical", "Health", "Clinic", "Infirmary", "Imaging", "Radiology", "Cancer", "Institute",
    "Sanatorium", "Hospice", "Nursing", "Rehabilitation", "Surgery", "School", "University", "College", "NHS",
    "Children", "Memorial", "Polyclinic", "Orthop", "Diagnostics", "Associates", "Partners", "Physicians", "Urgent",
    "Surgical",
)  # fmt: skip
_GATES = {
    id(EMAIL_RE): lambda t: "@" in t.text,
    id(URL_RES[0]): lambda t: "://" in t.text,
    id(URL_RES[1]): lambda t: "www." in t.text,
    id(URL_RES[2]): lambda t: t.has(".com", ".org", ".net", ".edu", ".gov", ".io", ".health", ".info", ".biz"),
    id(IP_RES[0]): lambda t: t.digit and _DOTTED_RE.search(t.text) is not None,
    id(IP_RES[1]): lambda t: t.text.count(":") >= 7,
    **{id(DATE_RES[k]): _digit for k in (0, 1, 9)},
    **{id(DATE_RES[k]): lambda t: t.digit and t.month for k in range(2, 8)},
    id(DATE_RES[8]): lambda t: t.month and _OF_MONTH_RE.search(t.text) is not None,
    id(DATE_RES[10]): lambda t: (
        t.digit
        and t.kw(
            "dob", "d.o.b", "date", "born", "admitted", "discharged", "dos", "dod", "deceased", "lmp", "edd", "edc"
        )
    ),
    id(DATE_RES[11]): lambda t: t.digit and "/" in t.text,
    **{id(ID_RES[k]): _digit for k in (0, 2, 5)},
    **{id(ID_RES[k]): lambda t: t.digit and "-" in t.text for k in (1, 3, 4)},
    id(ID_RES[6]): lambda t: t.digit and "#" in t.text,
    id(ID_RES[7]): lambda t: t.digit and _DOTTED_RE.search(t.text) is not None,
    id(PHONE_RES[0]): _digit,
    id(PHONE_RES[1]): lambda t: t.digit and "+" in t.text,
    id(PHONE_RES[2]): lambda t: (
        t.digit and t.kw("ph", "tel", "fax", "page", "beeper", "cell", "mobile", "contact", "call", "ext")
    ),  # fmt: skip
    id(ADDRESS_RES[0]): _digit,
    id(ADDRESS_RES[2]): lambda t: t.digit and t.kw("box"),
    id(ADDRESS_RES[3]): lambda t: t.kw("county", "parish", "township", "borough"),
    id(ADDRESS_RES[4]): lambda t: t.digit and t.kw("zip", "postal", "postcode"),
    id(ADDRESS_RES[5]): _digit,
    id(ADDRESS_RES[6]): lambda t: t.digit and t.kw("addr", "residence", "lives", "resides"),
    id(ADDRESS_RES[7]): lambda t: t.kw("lives", "living", "resid", "native", "town"),
    id(AGE_RES[0]): lambda t: t.digit or t.kw("ninety", "hundred"),
    id(AGE_RES[1]): lambda t: t.kw("age"),
    id(AGE_RES[2]): lambda t: t.kw("nineties", "90s", "90's", "hundreds"),
    id(AGE_RES[3]): lambda t: t.kw("nonagenarian", "centenarian"),
    id(AGE_RES[4]): lambda t: t.digit and t.kw("is"),
    id(INSTITUTION_RES[0]): lambda t: t.has(*_INST_SUFFIX_WORDS),
    id(INSTITUTION_RES[1]): lambda t: t.has("Univ", "Hospital", "Institute", "Clinic"),
    id(INSTITUTION_RES[3]): lambda t: ":" in t.text,
}
# (class, pattern, has a "v" group, filter, gate, strong), in detector order
_COMPILED = [
    (cls, rx, "v" in rx.groupindex, _FILTERS.get(id(rx)), _GATES.get(id(rx)), strong)
    for cls, patterns, strong in DETECTORS
    for rx in patterns
]


def _regex_spans(text: str) -> Iterator[tuple[int, int, str, bool]]:
    t = _Text(text)
    for cls, rx, has_v, keep, gate, strong in _COMPILED:
        if gate is not None and not gate(t):
            continue
        for m in rx.finditer(text):
            s, e = m.span("v") if has_v else m.span()
            if e > s and (keep is None or keep(text[s:e])):
                yield s, e, cls, strong


_CACHE_CHARS = 2000  # texts up to this long (captions, sentences) are memoised: they repeat across samples


@functools.lru_cache(maxsize=16384)
def _cached_spans(text: str) -> tuple[Span, ...]:
    return tuple(_find_spans(text))


def find_spans(text: str) -> list[Span]:
    """All identifier spans of ``text``: non-overlapping, sorted, same-class neighbours merged."""
    if len(text) <= _CACHE_CHARS:
        return list(_cached_spans(text))
    return _find_spans(text)


def _find_spans(text: str) -> list[Span]:
    cands = list(_regex_spans(text))
    cands += [(s, e, "NAME", True) for s, e in strong_names(text)]
    cands += [(s, e, "NAME", False) for s, e in gazetteer_names(text)]
    # placeholders already in the text are never re-scrubbed
    taken = [(m.start(), m.end()) for m in _PLACEHOLDERS.finditer(text)] if "[" in text else []
    chosen: list[tuple[int, int, str]] = []
    order = sorted(cands, key=lambda c: (not c[3], -(c[1] - c[0]), _RANK[c[2]], c[0]))
    for s, e, cls, _ in order:
        if any(s < te and ts < e for ts, te in taken):
            continue
        taken.append((s, e))
        chosen.append((s, e, cls))
    chosen.sort()
    merged: list[Span] = []
    for s, e, cls in chosen:
        if merged and merged[-1].cls == cls and not text[merged[-1].end : s].strip(" \t"):
            merged[-1] = Span(merged[-1].start, e, cls)
        else:
            merged.append(Span(s, e, cls))
    return merged
