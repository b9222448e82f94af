"""Feature-space few-shot heads: CLIP-Adapter, Tip-Adapter(-F), the linear probe and LP++.

Submodules are imported on demand so that ``import medclip.adapters`` stays cheap.
"""

__all__ = ["clip_adapter", "linear_probe", "lp_plusplus", "tip_adapter"]
