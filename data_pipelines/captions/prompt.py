"""Versioned LLM prompt files (``prompts/<name>.txt``, ``$placeholder`` syntax) and their rendering."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from string import Template

from .vocab import Finding

PROMPT_DIR = Path(__file__).parent / "prompts"


@dataclass(frozen=True)
class PromptTemplate:
    """A prompt file: ``prompt_id`` (file stem), its text and the sha256 of the text."""

    prompt_id: str
    text: str

    @property
    def sha256(self) -> str:
        """sha256 of the template text (part of every cache key and bank provenance)."""
        return hashlib.sha256(self.text.encode()).hexdigest()

    def render(
        self,
        *,
        study: str,
        modality: str,
        anatomy: str,
        findings: list[Finding],
        normal_markers: tuple[str, ...],
        n: int,
        min_words: int,
        max_words: int,
    ) -> str:
        """The prompt for one triple (``findings`` empty = normal)."""
        if findings:
            names = " and ".join(f.name for f in findings)
            finding_rule = f"Findings present in the image: {names}."
            accepted = "; ".join(
                f"{f.name} (or: {', '.join(f.synonyms[:4])})" if f.synonyms else f.name for f in findings
            )
            mention_rule = f"Every caption must name every finding, literally or by a synonym: {accepted}."
        else:
            finding_rule = (
                "The image is normal: there is no pathological finding. Never describe a disease, lesion or "
                "abnormality as present."
            )
            markers = ", ".join(f'"{m}"' for m in normal_markers[:6])
            mention_rule = f"Every caption must state that the image is normal, using one of: {markers}."
        return Template(self.text).substitute(
            study=study,
            modality=modality,
            anatomy=anatomy,
            finding_rule=finding_rule,
            mention_rule=mention_rule,
            n=n,
            min_words=min_words,
            max_words=max_words,
        )


def load_prompt(name: str) -> PromptTemplate:
    """Load ``prompts/<name>.txt`` or a path to a ``.txt`` file.

    Raises:
        FileNotFoundError: naming the available prompt ids.
    """
    p = Path(name)
    if p.suffix != ".txt" or not p.is_file():
        p = PROMPT_DIR / f"{name}.txt"
    if not p.is_file():
        avail = ", ".join(sorted(x.stem for x in PROMPT_DIR.glob("*.txt")))
        raise FileNotFoundError(f"caption prompt {name!r} not found (available: {avail})")
    return PromptTemplate(p.stem, p.read_text())
