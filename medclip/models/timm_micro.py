"""Tiny timm ViTs registered with timm so that test stand-ins use the real timm code path.

BiomedCLIP's image tower is timm ``vit_base_patch16_224``. The stand-in registered here has the same
class (``timm.models.vision_transformer.VisionTransformer``) at a size that runs in milliseconds.
"""

from __future__ import annotations

from timm.models import register_model
from timm.models.vision_transformer import VisionTransformer, _create_vision_transformer


def _already_registered(name: str) -> bool:
    import timm

    return name in timm.list_models(name)


if not _already_registered("medclip_vit_micro_patch16_64"):

    @register_model
    def medclip_vit_micro_patch16_64(pretrained: bool = False, **kwargs) -> VisionTransformer:
        """ViT with 2 blocks, width 64, 2 heads, 64x64 input, patch 16 (random init only)."""
        if pretrained:
            raise ValueError("medclip_vit_micro_patch16_64 has no pretrained weights")
        defaults = dict(img_size=64, patch_size=16, embed_dim=64, depth=2, num_heads=2, mlp_ratio=2.0)
        kwargs.pop("pretrained_cfg", None)
        defaults.update(kwargs)
        # Built through timm's own builder (with the ViT-Ti/16 pretrained cfg record, never its weights) so
        # the model carries ``default_cfg`` like every timm model.
        return _create_vision_transformer("vit_tiny_patch16_224", pretrained=False, **defaults)
