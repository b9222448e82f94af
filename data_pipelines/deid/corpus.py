"""A generated de-identification corpus: procedural reports with planted identifiers in many formats, and a
clean control set of clinical sentences (eponyms, anatomy, drugs, measurements, ages under 90).

Identifiers are drawn partly from the scrubber's own name lists and partly from names it has never seen, so
names found only through a title or a cue ("Dr.", "signed by", "Patient:") are measured honestly. Names with
no context at all are a separate set (:func:`bare_name_corpus`): no rule-based scrubber can promise them.

    docs = planted_corpus(500, seed=0)      # Doc(text, planted=[Span...])
    ctrl = control_corpus(300, seed=0)      # Doc(text, protected=[(start, end), ...])
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from .gazetteer import lists
from .rules import Span

UNSEEN_GIVEN = (
    "Thandiwe Oluwadamilare Siobhan Eleni Bartholomew Cosima Ezekiel Ingeborg Radomir Yevgenia Tobiah Marisol "
    "Anneliese Caoimhe Dagny Leocadia Ximena Bodhi Soraya Teodoro"
).split()
UNSEEN_FAMILY = (
    "Zylstra Okonkwo-Batts Vanderhoek Przybylski Achterberg Nakagawa Featherstone Quintero Abernathy Lindqvist "
    "Haverkamp Oyelaran Castellanos Brzezinski Tsujimoto Delacroix Kowalczyk Ferreira-Lopes Mbeki Halvorsen"
).split()
PLACES = (
    "Springfield Riverside Fairview Greenville Oakdale Maplewood Lakeside Brookfield Ashford Cedarville Kingsport "
    "Millbrook Westfield Northgate Harborview Pinecrest Stonebridge Elmhurst Clearwater Redmond"
).split()
STREETS = "Main Oak Maple Cedar Elm Pine Washington Lake Hill Park Fruit Chestnut Walnut Highland Sunset".split()
SUFFIXES = "Street St. Avenue Ave Road Rd. Boulevard Blvd Lane Drive Court Way Place Terrace".split()
STATES = "MA NY TX IL FL WA GA NJ NC VA MI AZ TN".split()
INST_SUFFIX = (
    "Hospital|General Hospital|Medical Center|Memorial Hospital|Clinic|Imaging Center|Health System|"
    "Regional Medical Center|Children's Hospital|Cancer Center|Community Hospital|University Hospital"
).split("|")
MONTHS = "January February March April May June July August September October November December".split()


@dataclass
class Doc:
    """One corpus document: text, its planted identifiers, and (control set) its protected clinical terms."""

    text: str
    planted: list[Span] = field(default_factory=list)
    protected: list[tuple[int, int]] = field(default_factory=list)


class _Gen:
    def __init__(self, rng: random.Random):
        self.r = rng
        g = lists()
        self.seen_given = sorted(x.title() for x in g["first"] - g["ambiguous"] - g["clinical"] if "-" not in x)
        self.seen_family = sorted(x.title() for x in g["last"] - g["ambiguous"] - g["clinical"] if "'" not in x)

    def given(self) -> str:
        return self.r.choice(UNSEEN_GIVEN if self.r.random() < 0.5 else self.seen_given)

    def family(self) -> str:
        return self.r.choice(UNSEEN_FAMILY if self.r.random() < 0.5 else self.seen_family)

    def name(self) -> str:
        f, g, r = self.family(), self.given(), self.r.random()
        if r < 0.45:
            return f"{g} {f}"
        if r < 0.6:
            return f"{g[0]}. {f}"
        if r < 0.75:
            return f"{g} {self.r.choice('ABCDEJKLMRS')}. {f}"
        if r < 0.85:
            return f"{g.upper()} {f.upper()}"
        return f

    def name_lf(self) -> str:
        f, g = self.family(), self.given()
        return self.r.choice([f"{f}, {g}", f"{f.upper()}, {g.upper()}", f"{f.upper()}, {g.upper()} {g[0]}"])

    def date(self) -> str:
        r = self.r
        y, m, d = r.randint(1990, 2025), r.randint(1, 12), r.randint(1, 28)
        mon = MONTHS[m - 1]
        return r.choice(
            [
                f"{m:02d}/{d:02d}/{y}", f"{m}/{d}/{y % 100:02d}", f"{y}-{m:02d}-{d:02d}", f"{mon} {d}, {y}",
                f"{d} {mon} {y}", f"{mon[:3]} {d} {y}", f"{d:02d}-{mon[:3].upper()}-{y}", f"{d}th of {mon}, {y}",
                f"{y}{m:02d}{d:02d}", f"{mon[:3]}. {d}, {y}", f"{mon} {y}", f"{y}/{m:02d}/{d:02d}",
                f"{d:02d}.{m:02d}.{y}", f"Monday, {mon} {d}, {y}", f"{m:02d}-{d:02d}-{y}", f"{mon} {d}",
                f"{y}-{m:02d}-{d:02d}T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}",
            ]
        )  # fmt: skip

    def mrn(self) -> str:
        r = self.r
        return r.choice(
            [
                str(r.randint(10**6, 10**9)), f"{r.randint(0, 99999999):08d}", f"MR{r.randint(10**5, 10**7)}",
                f"{r.choice('ABCEHKLMRSZ')}{r.randint(10**5, 10**7)}",
                f"{r.randint(100, 999)}-{r.randint(10**4, 10**6)}",
            ]
        )  # fmt: skip

    def acc(self) -> str:
        r = self.r
        return r.choice(
            [
                f"ACC-{r.randint(1995, 2025)}-{r.randint(100, 999999):06d}", f"{r.randint(10**6, 10**10)}",
                f"RAD{r.randint(10**5, 10**8)}", f"CT{r.randint(10**5, 10**8)}", f"A{r.randint(10**4, 10**7)}X",
            ]
        )  # fmt: skip

    def ssn(self) -> str:
        return f"{self.r.randint(100, 899)}-{self.r.randint(10, 99)}-{self.r.randint(1000, 9999)}"

    def phone(self) -> str:
        r = self.r
        a, b, c = r.randint(201, 989), r.randint(200, 999), r.randint(0, 9999)
        return r.choice(
            [
                f"({a}) {b}-{c:04d}", f"{a}-{b}-{c:04d}", f"{a}.{b}.{c:04d}", f"+1 {a} {b} {c:04d}",
                f"1-{a}-{b}-{c:04d}", f"+44 20 {r.randint(1000, 9999)} {r.randint(1000, 9999)}",
                f"{a}-{b}-{c:04d} ext. {r.randint(1, 9999)}", f"({a}){b}-{c:04d}",
            ]
        )  # fmt: skip

    def pager(self) -> str:
        return str(self.r.randint(1000, 99999))

    def email(self) -> str:
        g, f = self.given().lower(), self.family().lower().replace("'", "")
        dom = self.r.choice(["hospital.org", "mail.example.com", "med.univ.edu", "clinic.net", "gmail.com"])
        return self.r.choice([f"{g}.{f}@{dom}", f"{g[0]}{f}{self.r.randint(1, 99)}@{dom}", f"{f}_{g}@{dom}"])

    def url(self) -> str:
        r = self.r
        host = r.choice(["pacs", "portal", "images", "ris", "viewer"]) + "." + r.choice(PLACES).lower()
        return r.choice(
            [
                f"https://{host}.org/study?id={r.randint(10**5, 10**8)}",
                f"http://{host}.net/viewer/{r.randint(1, 10**6)}",
                f"www.{host}.com/patient/{r.randint(10**3, 10**6)}", f"{host}.health/records",
            ]
        )  # fmt: skip

    def ip(self) -> str:
        r = self.r
        if r.random() < 0.15:
            return ":".join(f"{r.randint(0, 65535):x}" for _ in range(8))
        return ".".join(str(r.randint(1, 254)) for _ in range(4))

    def age(self) -> str:
        r = self.r
        if r.random() < 0.1:
            return r.choice(["ninety-two", "ninety-five", "one hundred"])
        return str(r.randint(90, 109))

    def institution(self) -> str:
        r = self.r
        pl = r.choice(PLACES)
        return r.choice(
            [
                f"{pl} {r.choice(INST_SUFFIX)}", f"St. {r.choice(self.seen_given)}'s {r.choice(INST_SUFFIX)}",
                f"University of {pl} Medical Center", f"{pl} Valley {r.choice(INST_SUFFIX)}", "Mayo Clinic",
                f"{self.family()} Memorial Hospital", f"Mount {pl} Hospital", "Johns Hopkins Hospital",
            ]
        )  # fmt: skip

    def street(self) -> str:
        r = self.r
        base = f"{r.randint(1, 9999)} {r.choice(['', 'N. ', 'West '])}{r.choice(STREETS)} {r.choice(SUFFIXES)}"
        if r.random() < 0.3:
            base += f", {r.choice(['Apt', 'Suite', 'Unit'])} {r.randint(1, 40)}{r.choice('ABC')}"
        if r.random() < 0.5:
            base += f", {r.choice(PLACES)}, {r.choice(STATES)} {r.randint(10000, 99999)}"
        return base

    def city_state(self) -> str:
        r = self.r
        zipc = f" {r.randint(10000, 99999)}" + (f"-{r.randint(1000, 9999)}" if r.random() < 0.3 else "")
        return f"{r.choice(PLACES)}, {r.choice(STATES)}" + (zipc if r.random() < 0.6 else "")

    def city(self) -> str:
        return self.r.choice(PLACES)

    def zip(self) -> str:
        return f"{self.r.randint(10000, 99999)}"


CLS = {
    "name": "NAME", "name_lf": "NAME", "family": "NAME", "date": "DATE", "mrn": "ID", "acc": "ID", "ssn": "ID",
    "phone": "PHONE", "pager": "PHONE", "email": "EMAIL", "url": "URL", "ip": "IP", "age": "AGE",
    "institution": "INSTITUTION", "street": "ADDRESS", "city_state": "ADDRESS", "city": "ADDRESS", "zip": "ADDRESS",
}  # fmt: skip
HEADERS = [
    "PATIENT: {name_lf}   MRN: {mrn}   DOB: {date}",
    "Patient Name: {name_lf}\nMedical Record Number: {mrn}\nAccession Number: {acc}",
    "EXAM: CT CHEST WITH CONTRAST   ACCESSION #: {acc}   EXAM DATE: {date}",
    "Name: {name}  Age: {age}  Sex: F  Acct #: {mrn}",
    "Referring physician: Dr. {name}   Ordering provider: {name}, MD",
    "Pt: {name_lf}  SSN: {ssn}  Encounter ID: {mrn}",
]
SENTENCES = [
    "Comparison is made with the prior study dated {date}.",
    "Findings were discussed with Dr. {family} at 14:30 on {date} by telephone.",
    "Critical result communicated to {name} (pager {pager}) on {date}.",
    "The patient is a {age}-year-old man with shortness of breath.",
    "{age} yo female with chest pain.",
    "History: {age} y/o F, fall at home.",
    "The patient, aged {age}, presents with cough.",
    "Electronically signed by: {name}, MD on {date}.",
    "Dictated by {name}. Transcribed by {name} on {date}.",
    "Study performed at {institution}, {street}.",
    "Outside films from {institution} were reviewed.",
    "For questions call the reading room at {phone} or email {email}.",
    "Images are available at {url} (PACS node {ip}).",
    "Patient lives in {city} and was transferred from {institution}.",
    "Home address: {street}.",
    "Mailing address is {city_state}.",
    "Zip code: {zip}.",
    "Contact: {name}, daughter, phone {phone}.",
    "Next of kin: Mrs. {family}, telephone {phone}.",
    "MRN {mrn}; accession {acc}; date of service {date}.",
    "Follow-up imaging was performed on {date} at {institution}.",
    "Report faxed to {phone} attn: Dr. {name}.",
    "Results reviewed by Dr. {name} and {name}, RN on {date}.",
    "This {age}-year-old patient was seen on {date}.",
    "Admitted on {date} to {institution}.",
]
FINDINGS = [
    "FINDINGS: The lungs are clear. No pleural effusion or pneumothorax. The heart size is normal.",
    "FINDINGS: There is a 2.3 x 1.8 cm spiculated nodule in the right upper lobe (series 3, image 45).",
    "FINDINGS: Small left pleural effusion with adjacent atelectasis. Mild cardiomegaly.",
    "FINDINGS: Hypodense lesion in hepatic segment 7 measuring 14 mm, likely a cyst. Ejection fraction 55-60%.",
    "FINDINGS: Mild degenerative changes at L4-5 with disc bulge. No fracture. History of Parkinson disease.",
    "FINDINGS: Acute infarct in the left MCA territory. The circle of Willis is patent.",
]
IMPRESSIONS = [
    "IMPRESSION: No acute cardiopulmonary process.",
    "IMPRESSION: 1. Pulmonary nodule, recommend CT follow-up per Fleischner Society guidelines. 2. No effusion.",
    "IMPRESSION: Findings may represent pneumonia; atelectasis cannot be excluded.",
    "IMPRESSION: Jones fracture of the fifth metatarsal base.",
]

CONTROL_TERMS = (
    "Hodgkin lymphoma|Crohn disease|Parkinson disease|Alzheimer disease|Graves disease|Wilson disease|Cushing syndrome|"
    "Addison disease|Barrett esophagus|Paget disease|Kaposi sarcoma|Ewing sarcoma|Wilms tumor|Jones fracture|"
    "Smith fracture|Colles fracture|Bennett fracture|Hill-Sachs lesion|Bankart lesion|Baker cyst|Schmorl node|"
    "Morton neuroma|Chiari malformation|Dandy-Walker malformation|pouch of Douglas|circle of Willis|foramen of Monro|"
    "Kerley B lines|Hampton hump|Westermark sign|Foley catheter|Swan-Ganz catheter|Hickman catheter|Whipple procedure|"
    "Nissen fundoplication|Roux-en-Y gastric bypass|Stanford type A dissection|Salter-Harris type II fracture|"
    "Gleason score 3+4|BI-RADS 4|LI-RADS 5|Bosniak IIF cyst|Fleischner Society guidelines|Glasgow Coma Scale|"
    "Child-Pugh class B|Murphy sign|McBurney point|Virchow node|Sister Mary Joseph nodule|Krukenberg tumor|"
    "Klatskin tumor|Zenker diverticulum|Meckel diverticulum|Mallory-Weiss tear|Budd-Chiari syndrome|"
    "Hashimoto thyroiditis|Marfan syndrome|Ehlers-Danlos syndrome|Takayasu arteritis|Kawasaki disease|"
    "Guillain-Barre syndrome|Huntington disease|Lewy body dementia|Charcot joint|Pancoast tumor|Morison pouch|"
    "ligament of Treitz|Wharton duct|Stensen duct|ampulla of Vater|sphincter of Oddi|duct of Wirsung|Bochdalek hernia|"
    "Morgagni hernia|Hirschsprung disease|Peutz-Jeghers syndrome|Turner syndrome|Down syndrome|Sjogren syndrome|"
    "Raynaud phenomenon|Horner syndrome|Bell palsy|Wernicke encephalopathy|Valsalva maneuver|Trendelenburg position|"
    "Greenfield filter|Jackson-Pratt drain|Penrose drain|Hartmann pouch|Fontan circulation|Blalock-Taussig shunt|"
    "Achilles tendon|eustachian tube|fallopian tube|Bartholin gland cyst|Doppler|Hounsfield units|heparin|Coumadin|"
    "Lasix|Eliquis|Omnipaque 350|gadolinium|Gadavist|technetium-99m sestamibi|Lovenox|Zosyn|vancomycin"
).split("|")
# Eponyms and devices written after the scrubber was tuned (first run: 2 of 300 sentences changed, both
# "Austin Flint murmur"; "murmur" then joined the eponym heads).
CONTROL_TERMS_LATE = (
    "Port-A-Cath|Dobbhoff tube|Impella device|Watchman device|MitraClip|Amplatzer occluder|Harrington rods|"
    "Steinmann pin|Kirschner wires|Denver shunt|PleurX catheter|Shenton line|Gerdy tubercle|Lisfranc injury|"
    "Maisonneuve fracture|Tillaux fracture|Jefferson fracture|Hangman fracture|Essex-Lopresti injury|Pott disease|"
    "Pellegrini-Stieda lesion|Osgood-Schlatter disease|Legg-Calve-Perthes disease|Kienbock disease|"
    "Scheuermann disease|Madelung deformity|Sprengel deformity|Brodie abscess|Codman triangle|Looser zones|"
    "Milwaukee shoulder|Golden S sign|Swyer-James syndrome|Kartagener syndrome|Mounier-Kuhn syndrome|"
    "Williams-Campbell syndrome|Churg-Strauss syndrome|Goodpasture syndrome|Caplan syndrome|Lemierre syndrome|"
    "Kommerell diverticulum|artery of Adamkiewicz|Batson plexus|vein of Galen|vein of Labbe|artery of Percheron|"
    "Virchow-Robin spaces|Fahr disease|Sturge-Weber syndrome|von Hippel-Lindau disease|Tolosa-Hunt syndrome|"
    "Wallerian degeneration|Creutzfeldt-Jakob disease|Binswanger disease|Rathke cleft cyst|Meckel cave|"
    "Dorello canal|Hunt and Hess grade 3|Fisher grade 3|Spetzler-Martin grade 2|modified Rankin scale 2|"
    "Couinaud segment 7|Riedel lobe|Calot triangle|Mirizzi syndrome|Rigler sign|Chilaiditi sign|Spigelian hernia|"
    "Amyand hernia|Petit triangle|Ladd bands|Zollinger-Ellison syndrome|Fournier gangrene|Page kidney|"
    "column of Bertin|Gartner duct cyst|Nabothian cyst|Meigs syndrome|Asherman syndrome|Brenner tumor|"
    "Beckwith-Wiedemann syndrome|Moyamoya disease|non-Hodgkin lymphoma|Waldenstrom macroglobulinemia|"
    "Burkitt lymphoma|Castleman disease|Rosai-Dorfman disease|Erdheim-Chester disease|Langerhans cell histiocytosis|"
    "Warthin tumor|Kimura disease|Kikuchi disease|Graves orbitopathy|Ramsay Hunt syndrome|Dubin-Johnson syndrome|"
    "Gilbert syndrome|Caroli disease|de Quervain thyroiditis|Riedel thyroiditis|Paget-Schroetter syndrome|"
    "May-Thurner syndrome|Nutcracker syndrome|Leriche syndrome|Buerger disease|Loeys-Dietz syndrome|"
    "Austin Flint murmur|Ebstein anomaly|tetralogy of Fallot|Eisenmenger syndrome|Dressler syndrome|Kussmaul sign|"
    "Beck triad|Osborn waves|Brugada pattern|Wolff-Parkinson-White pattern|Mobitz type II block|Wenckebach block|"
    "Holter monitor|Blake drain|Hemovac drain|Malecot catheter|Tenckhoff catheter|Quinton catheter|"
    "Groshong catheter|Sengstaken-Blakemore tube|Minnesota tube|Salem sump|Miller-Abbott tube|Cantor tube"
).split("|")
CONTROL_TEMPLATES = [
    "Findings consistent with {t}.",
    "History of {t}; no acute findings.",
    "{T} is again noted without interval change.",
    "Known {t} in a 67-year-old male.",
    "There is no evidence of {t}.",
    "The appearance suggests {t}, correlate clinically.",
    "A 3.2 x 2.1 cm mass abuts the {t} (series 4, image 112).",
    "Status post {t} with expected postoperative change.",
    "The patient received 100 mL of contrast; {t} noted.",
    "Comparison with prior imaging demonstrates stable {t} at L4-5.",
]
CONTROL_PLAIN = [
    "Blood pressure 120/80 and heart rate 72.",
    "Temperature 99 F, fever to 101 F overnight; SpO2 94% on 2 L.",
    "Breast Imaging Reporting and Data System category 4; refer to the Sleep Clinic and Mental Health.",
    "Per American College of Radiology criteria; Department of Diagnostic Imaging protocol.",
    "Exam Name: CHEST PA AND LATERAL. Series Name: Axial T2. Resident: None. Attending: Pending.",
    "Ejection fraction is 55-60% with grade 2/4 diastolic dysfunction.",
    "Motor strength 4/5 in the left upper extremity.",
    "T2/FLAIR hyperintensity in the periventricular white matter on a 1.5 T scanner.",
    "SUVmax 12.3 in the right hilar node; DLP 456.7 mGy-cm.",
    "Disc osteophyte complex at C5-C6 narrowing the canal to 8 mm.",
    "Lesion measures 14 x 12 x 9 mm in hepatic segment 7.",
    "A 45-year-old woman with right upper quadrant pain.",
    "The 89-year-old patient has a hip fracture.",
    "Left anterior descending artery stenosis of 70%.",
    "PA and lateral views of the chest were obtained.",
    "Brown fat uptake in the supraclavicular region.",
    "Ground-glass opacity in the right lower lobe, Lung-RADS 3.",
    "White matter changes are compatible with chronic small vessel disease.",
]


def _fill(template: str, gen: _Gen, rng: random.Random, offset: int = 0) -> tuple[str, list[Span]]:
    out, spans, pos = [], [], 0
    for m in re.finditer(r"\{(\w+)\}", template):
        lit = template[pos : m.start()]
        out.append(lit)
        value = getattr(gen, m.group(1))()
        start = offset + sum(map(len, out))
        spans.append(Span(start, start + len(value), CLS[m.group(1)]))
        out.append(value)
        pos = m.end()
    out.append(template[pos:])
    return "".join(out), spans


def planted_corpus(n: int, *, seed: int = 0) -> list[Doc]:
    """``n`` procedural reports, each with a header, findings, an impression and 3-6 identifier sentences."""
    rng = random.Random(seed)
    gen = _Gen(rng)
    docs = []
    for _ in range(n):
        parts = [rng.choice(HEADERS), rng.choice(FINDINGS)]
        parts += rng.sample(SENTENCES, rng.randint(3, 6))
        parts.append(rng.choice(IMPRESSIONS))
        text, spans = "", []
        for p in parts:
            piece, sp = _fill(p, gen, rng, offset=len(text))
            text += piece + rng.choice(["\n", " ", "\n\n"])
            spans += sp
        docs.append(Doc(text, spans))
    return docs


def control_corpus(n: int, *, seed: int = 0) -> list[Doc]:
    """``n`` clean clinical sentences; ``protected`` marks the clinical terms that must survive."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        if i % 4 == 3:
            docs.append(Doc(rng.choice(CONTROL_PLAIN)))
            continue
        pool = CONTROL_TERMS + CONTROL_TERMS_LATE
        term = pool[i % len(pool)]
        tpl = rng.choice(CONTROL_TEMPLATES)
        cap = term[0].upper() + term[1:]
        text = tpl.replace("{T}", cap).replace("{t}", term)
        start = text.find(cap if "{T}" in tpl else term)
        docs.append(Doc(text, protected=[(start, start + len(term))]))
    return docs


def bare_name_corpus(n: int, *, seed: int = 0) -> list[Doc]:
    """Names with no title or cue ("... informed John Zylstra."): half from the gazetteers, half unseen."""
    rng = random.Random(seed)
    gen = _Gen(rng)
    tpls = ["The study was explained to {name}.", "{name} tolerated the procedure well.", "Images sent to {name}."]
    out = []
    for _ in range(n):
        g, f = gen.given(), gen.family()
        tpl = rng.choice(tpls).replace("{name}", "\0")
        pre, post = tpl.split("\0")
        name = f"{g} {f}"
        out.append(Doc(pre + name + post, [Span(len(pre), len(pre) + len(name), "NAME")]))
    return out


def score(docs: list[Doc], scrub_fn) -> dict:
    """Recall (planted identifiers fully removed), typed recall, precision (removed spans that touch a planted
    identifier) and, for control documents, clinical terms removed and spans removed at all."""
    planted = found = typed = detected = true_det = removed_terms = ctrl_spans = 0
    missed: list[str] = []
    for d in docs:
        spans = scrub_fn(d.text).spans
        detected += len(spans)
        for p in d.planted:
            planted += 1
            cover = [s for s in spans if s.start < p.end and p.start < s.end]
            chars = set().union(*[range(s.start, s.end) for s in cover]) if cover else set()
            if all(i in chars or d.text[i].isspace() for i in range(p.start, p.end)):
                found += 1
                typed += all(s.cls == p.cls for s in cover)
            else:
                missed.append(f"{p.cls}: {d.text[p.start : p.end]!r}")
        for s in spans:
            true_det += any(s.start < p.end and p.start < s.end for p in d.planted)
        for a, b in d.protected:
            removed_terms += any(s.start < b and a < s.end for s in spans)
        if not d.planted:
            ctrl_spans += len(spans)
    return {
        "planted": planted,
        "recall": found / planted if planted else 1.0,
        "typed_recall": typed / planted if planted else 1.0,
        "precision": true_det / detected if detected else 1.0,
        "detected": detected,
        "clinical_terms_removed": removed_terms,
        "control_spans_removed": ctrl_spans,
        "missed": missed,
    }


# Formats written to probe the scrubber's limits (not used to tune it): each case is (text, identifiers).
HARD_CASES: list[tuple[str, list[tuple[str, str]]]] = [
    ("Seen by nurse Thandiwe in the evening.", [("Thandiwe", "NAME")]),
    ("Ms Cosima Zylstra (no period) was informed.", [("Cosima Zylstra", "NAME")]),
    ("patient john smith, lower case, was informed.", [("john smith", "NAME")]),
    ("THE PATIENT ZYLSTRA WAS INFORMED.", [("ZYLSTRA", "NAME")]),
    ("MRN 123 456 78 on file.", [("123 456 78", "ID")]),
    ("Phone 6175550123 for results.", [("6175550123", "PHONE")]),
    ("Call back number six one seven five five five.", [("six one seven five five five", "PHONE")]),
    ("Imaged on the fifth of March.", [("fifth of March", "DATE")]),
    ("Fall at home on Christmas Day 2020.", [("Christmas Day 2020", "DATE")]),
    ("Follow-up on 5/3 as planned.", [("5/3", "DATE")]),
    ("Nonagenarian with hip pain.", [("Nonagenarian", "AGE")]),
    ("A man in his late 90s.", [("in his late 90s", "AGE")]),
    ("Transferred from BIDMC overnight.", [("BIDMC", "INSTITUTION")]),
    ("Lives at 12 Rue de Rivoli, Paris.", [("12 Rue de Rivoli, Paris", "ADDRESS")]),
    ("Prior imaging at Springfield Orthopaedics.", [("Springfield Orthopaedics", "INSTITUTION")]),
    ("His wife Marisol called the desk.", [("Marisol", "NAME")]),
    ("Study reviewed with Ezekiel on the phone.", [("Ezekiel", "NAME")]),
    ("Result sent to jdoe at hospital dot org.", [("jdoe at hospital dot org", "EMAIL")]),
    ("Plate ABC-1234 vehicle in the collision.", [("ABC-1234", "ID")]),
    ("Works as a firefighter for Springfield county.", [("Springfield county", "ADDRESS")]),
    ("DOB March 4th.", [("March 4th", "DATE")]),
    ("The 2021-3-4 study.", [("2021-3-4", "DATE")]),
    ("Admitted 04MAR2021 via the ED.", [("04MAR2021", "DATE")]),
    ("Contact Dr Haverkamp on ext 4521.", [("Haverkamp", "NAME"), ("4521", "PHONE")]),
    ("Patient is 102.", [("102", "AGE")]),
]


def hard_corpus() -> list[Doc]:
    """:data:`HARD_CASES` as documents with planted spans."""
    docs = []
    for text, ids in HARD_CASES:
        spans = []
        for value, cls in ids:
            start = text.index(value)
            spans.append(Span(start, start + len(value), cls))
        docs.append(Doc(text, spans))
    return docs
