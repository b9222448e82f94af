"""``demo_reports``: a small synthetic report-bearing source for the demo build (pairs, reports, scrubbing).

Each image is a demo-generator image (:func:`data_pipelines.sources.demo.render`, drawn with a seed offset
so it is not a copy of a ``demo`` image) of one demo class, with a procedural radiology-style report:
a header of planted identifiers (patient name, MRN, accession number, dates, phone number, referring
physician, institution, sometimes an age over 89), a FINDINGS section that states the class finding and
negates the other findings of the modality, and an IMPRESSION. The report goes through the ``pairs`` text
path (:func:`data_pipelines.sources.pairs_text.process_text`, text kind ``report``): scrubbed, converted to
short captions, scrubbed again. The sample also keeps its class label, so it carries label captions too.

:func:`planted_identifiers` returns what was planted in an image's report (tests check none of it reaches a
shard or a manifest). Everything is a function of ``(seed, class, index)``, so builds are deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Item, Loaded, register_source
from .demo import DEMO_CLASSES, render
from .pairs_text import CaptionSettings, PairRef, TextStats, process_many

SEED_OFFSET = 1_000_003  # images differ from the demo source's (same classes, other draws)

FINDING = {
    "pneumonia": ("patchy airspace consolidation in the right lower lobe, compatible with pneumonia", "pneumonia"),
    "pleural effusion": ("blunting of the left costophrenic angle by a moderate pleural effusion", "pleural effusion"),
    "cardiomegaly": ("the cardiac silhouette is enlarged, consistent with cardiomegaly", "cardiomegaly"),
    "kidney stone": ("a dense calculus in the left renal pelvis, consistent with a kidney stone", "kidney stone"),
    "liver lesion": ("a well-defined hypodense liver lesion in segment VI", "liver lesion"),
    "brain tumor": ("an enhancing mass in the right frontal lobe, concerning for a brain tumor", "brain tumor"),
    "benign mass": ("an oval circumscribed hypoechoic benign mass, parallel to the skin", "benign mass"),
    "malignant mass": ("an irregular spiculated hypoechoic malignant mass with posterior shadowing", "malignant mass"),
    "adenocarcinoma": ("an infiltrate of irregular malignant glands in the stroma, consistent with adenocarcinoma",
                       "adenocarcinoma"),
    "diabetic retinopathy": ("scattered microaneurysms and hard exudates, consistent with diabetic retinopathy",
                             "diabetic retinopathy"),
    "glaucoma": ("an enlarged optic cup with a cup-to-disc ratio of 0.8, suspicious for glaucoma", "glaucoma"),
}  # fmt: skip
EXAM = {
    "xray": "CHEST RADIOGRAPH, PA AND LATERAL",
    "ct": "CT ABDOMEN AND PELVIS WITH CONTRAST",
    "mri": "MRI BRAIN WITH AND WITHOUT CONTRAST",
    "ultrasound": "ULTRASOUND OF THE BREAST",
    "pathology": "COLON BIOPSY, H&E",
    "fundus": "COLOR FUNDUS PHOTOGRAPH",
}
FIRST = ("John", "Maria", "Wei", "Fatima", "Olga", "Kwame", "Sofia", "Rahul", "Ingrid", "Diego")
LAST = ("Smith", "Garcia", "Chen", "Okafor", "Petrova", "Mensah", "Rossi", "Sharma", "Larsen", "Alvarez")
SITES = ("St. Mary's Hospital", "Northfield Medical Center", "Riverside Clinic", "Lakeview General Hospital")


@dataclass
class DemoReportsConfig:
    """Settings of the ``demo_reports`` source."""

    type: str = "demo_reports"
    per_class: int = 20  # images (with a report each) per demo class, train split
    image_size: int = 96
    seed: int | None = None  # None = the build seed
    n_report_captions: int = 3
    report_backend: str = "rules"
    license: str = "CC0-1.0"

    def validate(self) -> None:
        if self.per_class < 0:
            raise ValueError(f"demo_reports: per_class must be >= 0, got {self.per_class}")
        if not 16 <= self.image_size <= 1024:
            raise ValueError(f"demo_reports: image_size must be in [16, 1024], got {self.image_size}")


def planted_identifiers(seed: int, cls: int, index: int) -> dict[str, str]:
    """The identifiers planted in the report of image ``(cls, index)`` (deterministic)."""
    rng = np.random.default_rng([seed, cls, index, 0x5E])
    first, last = FIRST[rng.integers(len(FIRST))], LAST[rng.integers(len(LAST))]
    doc = f"{FIRST[rng.integers(len(FIRST))]} {LAST[rng.integers(len(LAST))]}"
    y, m, d = int(rng.integers(2015, 2025)), int(rng.integers(1, 13)), int(rng.integers(1, 29))
    out = {
        "name": f"{first} {last}",
        "mrn": f"{int(rng.integers(10_000_000, 99_999_999))}",
        "accession": f"ACC{int(rng.integers(100_000, 999_999))}",
        "exam_date": f"{m:02d}/{d:02d}/{y}",
        "dob": f"{1930 + int(rng.integers(0, 70))}-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d}",
        "phone": f"({int(rng.integers(201, 989))}) {int(rng.integers(200, 999))}-{int(rng.integers(1000, 9999))}",
        "doctor": doc,
        "site": SITES[rng.integers(len(SITES))],
    }
    if rng.random() < 0.3:
        out["age"] = f"{int(rng.integers(90, 104))}"
    return out


def make_report(seed: int, cls: int, index: int) -> str:
    """The procedural report of image ``(cls, index)``: planted identifiers, findings with negations."""
    c = DEMO_CLASSES[cls]
    ids = planted_identifiers(seed, cls, index)
    others = [x.label for x in DEMO_CLASSES if x.modality == c.modality and x.label not in ("normal", c.label)]
    rng = np.random.default_rng([seed, cls, index, 0xF1])
    neg = [
        f"No {FINDING[o][1]}." if rng.random() < 0.5 else f"There is no evidence of {FINDING[o][1]}." for o in others
    ]
    if c.label == "normal":
        findings = f"No acute abnormality of the {c.anatomy}. " + " ".join(neg)
        impression = f"Normal {c.anatomy} study."
    else:
        findings = f"There is {FINDING[c.label][0]}. " + " ".join(neg)
        impression = f"{FINDING[c.label][1].capitalize()}."
    age = f"Age: {ids['age']}. " if "age" in ids else ""
    return (
        f"EXAMINATION: {EXAM[c.modality]}\n"
        f"Patient: {ids['name']}  MRN: {ids['mrn']}  DOB: {ids['dob']}  Accession: {ids['accession']}\n"
        f"{age}Exam date: {ids['exam_date']}. Referring physician: Dr. {ids['doctor']}, {ids['site']}, "
        f"phone {ids['phone']}.\n"
        f"FINDINGS: {findings}\n"
        f"IMPRESSION: {impression}\n"
    )


@register_source("demo_reports", DemoReportsConfig, kind="pairs")
class DemoReportsSource(CaptionSettings):
    """Demo images with procedural reports (text kind ``report``) and their class labels."""

    def __init__(self, name: str, cfg: DemoReportsConfig, *, seed: int) -> None:
        self.name, self.cfg = name, cfg
        self.seed = (cfg.seed if cfg.seed is not None else seed) + SEED_OFFSET
        self.stats = TextStats()

    def items(self) -> list[Item]:
        keys = [(ci, i) for ci in range(len(DEMO_CLASSES)) for i in range(self.cfg.per_class)]
        texts = process_many(
            [(make_report(self.seed, ci, i), "report") for ci, i in keys],
            stats=self.stats,
            captioner=self.report_captioner(self.cfg.report_backend) if keys else None,
            n_report_captions=self.cfg.n_report_captions,
            report_backend=self.cfg.report_backend,
        )
        out = []
        for (ci, i), pt in zip(keys, texts):
            c = DEMO_CLASSES[ci]
            meta = (("license", self.cfg.license), ("report", pt.report), ("text_kind", "report"))
            sid = f"{c.modality}-{c.label.replace(' ', '_')}-{i:06d}"
            out.append(Item(self.name, sid, "train", c.modality, c.anatomy, (c.label,), ref=PairRef((ci, i), pt, meta)))
        return out

    def load(self, item: Item) -> Loaded:
        ci, i = item.ref.image
        loaded = Loaded(pixels=render(ci, split="train", index=i, seed=self.seed, size=self.cfg.image_size))
        loaded.extra["meta"] = dict(item.ref.meta)
        return loaded
