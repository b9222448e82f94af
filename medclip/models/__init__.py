"""Model factory, registry and offline text towers."""

from .factory import create_model, create_model_from_checkpoint, get_tokenizer, read_checkpoint_name
from .loading import LoadReport, convert_state_dict, load_weights
from .local_text import minilm_path, tiny_bert_path
from .registry import get_model_config, list_models, open_clip_config, register_model_config

__all__ = [
    "LoadReport",
    "convert_state_dict",
    "create_model",
    "create_model_from_checkpoint",
    "read_checkpoint_name",
    "get_model_config",
    "get_tokenizer",
    "list_models",
    "load_weights",
    "minilm_path",
    "open_clip_config",
    "register_model_config",
    "tiny_bert_path",
]
