"""Deprecated: the feature-space heads moved to :mod:`medclip.fewshot.methods` (old submodules still import)."""
