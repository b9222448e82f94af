"""Feature-space few-shot heads: CLIP-Adapter, Tip-Adapter(-F) and the linear probe.

Submodules are imported on demand so that ``import medclip.adapters`` stays cheap.
"""

__all__ = ["clip_adapter", "linear_probe", "tip_adapter"]
