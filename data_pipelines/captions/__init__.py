"""Label-to-caption conversion: caption banks for (modality, anatomy, labels) triples.

Backends: ``knowledge`` (offline, deterministic default), ``openai`` (any OpenAI-compatible chat endpoint)
and ``hf`` (a local transformers causal LM). LLM answers are validated and cached; invalid ones fall back to
``knowledge``. See ``docs/captions.md``.

    from data_pipelines.captions import CaptionConfig, CaptionConverter
    conv = CaptionConverter(CaptionConfig(n_captions=10))
    bank = conv.bank("xray", "chest", ["pneumonia"])   # bank.captions, bank.kinds, bank.bank_id
    manifest["captions"] = conv.stats()
"""

from .bank import CAPTION_KIND, CaptionBank, LabelError
from .config import CaptionConfig
from .converter import CaptionConverter
from .knowledge import KnowledgeBackend
from .overlap import prompt_overlap
from .validate import CaptionValidator, parse_caption_list
from .vocab import MODALITIES, Vocabulary, load_vocabulary

__all__ = [
    "CAPTION_KIND",
    "MODALITIES",
    "CaptionBank",
    "CaptionConfig",
    "CaptionConverter",
    "CaptionValidator",
    "KnowledgeBackend",
    "LabelError",
    "Vocabulary",
    "load_vocabulary",
    "parse_caption_list",
    "prompt_overlap",
]
