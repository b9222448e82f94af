"""medclip: contrastive medical image-text pretraining, evaluation, prompt learning and model merging.

``import medclip`` registers medclip's model architectures with open_clip and is cheap: the trainer,
prompt learners and merge engines are imported from their subpackages on demand.
"""

from .models import create_model, get_tokenizer, list_models

__version__ = "0.1.0"
__all__ = ["__version__", "create_model", "get_tokenizer", "list_models"]
