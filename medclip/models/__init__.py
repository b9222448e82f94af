"""Model factory, registry and offline text towers."""

from .factory import create_model, get_tokenizer
from .local_text import minilm_path, tiny_bert_path
from .registry import get_model_config, list_models, register_model_config

__all__ = [
    "create_model",
    "get_model_config",
    "get_tokenizer",
    "list_models",
    "minilm_path",
    "register_model_config",
    "tiny_bert_path",
]
