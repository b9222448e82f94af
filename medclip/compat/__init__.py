"""Fixes that let other tools of the field run on medclip data (``python -m medclip.compat.open_clip_train``)."""
