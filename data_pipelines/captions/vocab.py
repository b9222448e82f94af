"""The curated caption vocabulary (``data/knowledge.yaml``): modalities, anatomies, findings, normal phrasing.

Label lookup is tolerant (case, ``_``/``-``/spaces, aliases) and never fails: an unknown label becomes a
generic finding whose only accepted surface form is the label itself.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

from .text import normalize, tokens

DATA_DIR = Path(__file__).parent / "data"
MODALITIES = ("xray", "ct", "mri", "ultrasound", "pathology", "fundus", "other")


@dataclass(frozen=True)
class Finding:
    """How captions refer to one label.

    Attributes:
        label: The label as given (cleaned: lower case, single spaces).
        name: Main surface form used in captions (the label itself unless it is a short abbreviation).
        canonical: Vocabulary key when the label is known, else ``None``.
        synonyms: Other accepted surface forms.
        descriptors: Imaging features of the finding (empty for unknown labels).
        countable: Whether the finding takes an indefinite article ("a liver lesion").
    """

    label: str
    name: str
    canonical: str | None
    synonyms: tuple[str, ...]
    descriptors: tuple[str, ...]
    countable: bool

    @property
    def terms(self) -> tuple[str, ...]:
        """All accepted surface forms (the label, its main name, synonyms, canonical name)."""
        out = [self.name, self.label, *self.synonyms]
        if self.canonical:
            out.append(self.canonical)
        return tuple(dict.fromkeys(t for t in out if normalize(t)))


def clean_label(label: str) -> str:
    """Lower case, ``_`` and repeated spaces collapsed: ``"Pleural_Effusion "`` -> ``"pleural effusion"``."""
    return " ".join(str(label).replace("_", " ").lower().split())


class Vocabulary:
    """Read-only view of the knowledge file. Use :func:`load_vocabulary` for the cached default."""

    def __init__(self, path: str | Path | None = None):
        path = Path(path) if path else DATA_DIR / "knowledge.yaml"
        with open(path) as f:
            self.raw = yaml.safe_load(f)
        self.path = path
        self._modality = {}
        for m, spec in self.raw["modalities"].items():
            for a in [m, *spec.get("aliases", [])]:
                self._modality[normalize(a)] = m
        self._anatomy = {}
        for a, spec in self.raw["anatomies"].items():
            for al in [a, *spec.get("aliases", [])]:
                self._anatomy[normalize(al)] = a
        self._finding = {}
        for f, spec in self.raw["findings"].items():
            for al in [f, *spec.get("aliases", [])]:
                self._finding[normalize(al)] = f
        normal = self.raw["normal"]
        self._normal_aliases = {normalize(a) for a in ["normal", *normal.get("aliases", [])]}
        self.normal_markers: tuple[str, ...] = tuple(normal["markers"])
        self.normal_patterns: tuple[str, ...] = tuple(normal["patterns"])
        self.patterns: tuple[str, ...] = tuple(self.raw["patterns"])
        # held-out eval register (optional in custom vocabularies; required only for captions.eval_bank)
        self.eval_patterns: tuple[str, ...] = tuple(self.raw.get("eval_patterns", ()))
        self.normal_eval_patterns: tuple[str, ...] = tuple(normal.get("eval_patterns", ()))

    # -- modality / anatomy -------------------------------------------------------------------------------
    def modality(self, modality: str) -> str:
        """Canonical modality (one of :data:`MODALITIES`); unknown names map to ``"other"``."""
        return self._modality.get(normalize(modality or ""), "other")

    def anatomy(self, anatomy: str) -> tuple[str, str]:
        """``(noun, adjective)`` phrases for an anatomy; unknown anatomies use the cleaned name for both."""
        a = clean_label(anatomy or "")
        key = self._anatomy.get(normalize(a))
        if key is None:
            return (a or "body", a or "body")
        return key, self.raw["anatomies"][key].get("adj", key)

    def study_phrases(self, modality: str, anatomy: str) -> list[str]:
        """Study phrases ("chest radiograph", "CT of the abdomen", ...) for a (modality, anatomy) pair."""
        noun, adj = self.anatomy(anatomy)
        pats = self.raw["modalities"][self.modality(modality)]["study"]
        return [p.format(anatomy=noun, anatomy_adj=adj) for p in pats]

    # -- labels ---------------------------------------------------------------------------------------------
    def is_normal(self, label: str) -> bool:
        """Whether a label means "normal / no finding"."""
        return normalize(clean_label(label)) in self._normal_aliases

    def finding(self, label: str) -> Finding:
        """The :class:`Finding` for a (non-normal) label; unknown labels get a generic one."""
        lab = clean_label(label)
        key = self._finding.get(normalize(lab))
        if key is None:
            return Finding(lab, lab, None, (), (), countable=False)
        spec = self.raw["findings"][key]
        name = key if len(normalize(lab).replace(" ", "")) <= 3 else lab
        syn = tuple(s for s in [key, *spec.get("synonyms", [])] if normalize(s) != normalize(name))
        return Finding(lab, name, key, syn, tuple(spec.get("descriptors", [])), countable=bool(spec.get("countable")))

    def normal_descriptors(self, modality: str, anatomy: str) -> list[str]:
        """Descriptions of normal anatomy for a (modality, anatomy) pair (generic ones if not curated)."""
        m = self.modality(modality)
        noun, adj = self.anatomy(anatomy)
        table = self.raw["normal"]["descriptors"]
        pats = table.get(f"{m}/{noun}") or table["generic"]
        return [p.format(anatomy=noun, anatomy_adj=adj) for p in pats]

    @functools.cached_property
    def pathology_terms(self) -> tuple[str, ...]:
        """Words and phrases that assert a pathology (for the normal-caption check)."""
        terms = list(self.raw.get("pathology_terms", []))
        for f, spec in self.raw["findings"].items():
            terms += [f, *spec.get("synonyms", [])]
        return tuple(dict.fromkeys(terms))

    @functools.cached_property
    def words(self) -> frozenset[str]:
        """Every token of the knowledge file (part of the typo-check word list)."""
        return frozenset(tokens(yaml.safe_dump(self.raw)))


@functools.lru_cache(maxsize=4)
def load_vocabulary(path: str | None = None) -> Vocabulary:
    """The (cached) vocabulary at ``path`` or the packaged default."""
    return Vocabulary(path)
