"""The curated word lists of the scrubber (``data/*.txt``): given names, family names, ambiguous names and the
clinical allowlist, plus the clinical head nouns that make a capitalised word an eponym ("Jones fracture")."""

from __future__ import annotations

import functools
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"

# A name-list word directly followed by one of these (optionally with 's) is an eponym, not a person.
EPONYM_HEADS = frozenset(
    """
    disease diseases syndrome fracture fractures sign signs lymphoma sarcoma tumor tumour catheter procedure
    classification level type grade score scale criteria palsy esophagus oesophagus cyst cysts node nodes nodule
    line lines hump pouch space canal triad phenomenon ulcer shunt operation repair fundoplication filter drain
    tube neuroma malformation anomaly deformity lesion lesions reflex test maneuver manoeuvre position stage staging
    system effect body bodies cell cells duct ducts ampulla foramen ring angle aneurysm dissection encephalopathy
    dementia thyroiditis pattern view views projection incision point area ligament tear injury glands gland
    esophagus diverticulum hernia anastomosis loop pouch limb circle fossa appendage stitch classification
    murmur murmurs wave waves space spaces zone zones rod rods pin pins wire wires plexus vein artery tubercle band
    bands gangrene kidney macroglobulinemia histiocytosis orbitopathy monitor device occluder segment sequence cave
    cleft degeneration arteritis phenomenon spot spots nodes pattern maneuver manoeuvre sump triangle disorder
    tremor ataxia aphasia nerve nerves muscle tendon fascia bursa capsule joint joints lobule gyrus sulcus fissure
    nucleus tract layer membrane cartilage bone process ridge tubule papilla ganglion valve method technique ratio
    index rule rules law formula equation number granules crystals needle forceps retractor clamp stent graft sling
    splint cast brace collar frame traction tongs hook screw plate nail fixator prosthesis arthroplasty osteotomy
    resection approach flap lamp
    """.split()
)
# "pouch of Douglas", "circle of Willis": a name-list word after "of" following one of these is anatomy.
ANATOMY_OF = frozenset(
    "pouch circle foramen ampulla sphincter space duct canal ligament angle triangle crypts islets loop organ".split()
)


def _load(name: str) -> frozenset[str]:
    words: set[str] = set()
    for line in (DATA_DIR / name).read_text().splitlines():
        line = line.split("#", 1)[0]
        words.update(w.strip().lower() for w in line.split() if w.strip())
    return frozenset(words)


@functools.lru_cache(maxsize=1)
def lists() -> dict[str, frozenset[str]]:
    """``{"first", "last", "ambiguous", "clinical"}`` word sets (lower case)."""
    return {
        "first": _load("first_names.txt"),
        "last": _load("last_names.txt"),
        "ambiguous": _load("ambiguous.txt"),
        "clinical": _load("clinical_allowlist.txt"),
    }


def key(word: str) -> str:
    """Lookup form of a word: lower case, curly apostrophe straightened, possessive dropped."""
    w = word.lower().replace("\u2019", "'")
    return w[:-2] if w.endswith("'s") else w.rstrip("'")


def is_name_word(word: str) -> bool:
    """Whether ``word`` is in the given-name or family-name list."""
    k, g = key(word), lists()
    return k in g["first"] or k in g["last"]


def standalone_name(word: str) -> bool:
    """Whether ``word`` alone (no given name, title or cue next to it) counts as a name."""
    k, g = key(word), lists()
    return (k in g["first"] or k in g["last"]) and k not in g["ambiguous"] and k not in g["clinical"]


def is_clinical(word: str) -> bool:
    """Whether ``word`` is on the clinical allowlist."""
    return key(word) in lists()["clinical"]
