"""Synthetic per-image attributes of the demo data (site / scanner, sex, age band) and a group-shift split.

The attributes are a hash of ``(seed, class, split, index)``: they never touch the image RNG, so every
existing demo split keeps its pixels. :func:`render_group_split` draws a separate optional split
(``test_groups``, its own RNG stream) in which one site, :data:`SHIFTED_SITE`, is a deliberately worse
scanner: its images get the ``test_shifted`` acquisition profile (lower contrast, strong gamma, noise,
blur), every other site the standard one. With ``shift=False`` the same split is an unbiased control
(every site standard). Subgroup reports should find the site gap in the first and none in the second.

Example:
    >>> img, attrs = render_group_split(0, index=5)   # attrs == {"site": ..., "sex": ..., "age_band": ...}
"""

from __future__ import annotations

import hashlib

import numpy as np

from .demo import _DRAW, DEMO_CLASSES
from .demo_canvas import SHIFTED, STANDARD, finish

SITES: tuple[str, ...] = ("site-A", "site-B", "site-C")
SEXES: tuple[str, ...] = ("F", "M")
AGE_BANDS: tuple[str, ...] = ("18-44", "45-64", "65+")
SHIFTED_SITE = "site-C"
GROUP_SPLIT = "test_groups"
_GROUP_STREAM = 10  # RNG stream id of the group split (the regular splits use 0-3)


def attributes(cls: int, split: str, index: int, seed: int = 0) -> dict[str, str]:
    """Deterministic ``{site, sex, age_band}`` of one demo image (independent of its class and pixels)."""
    h = hashlib.sha256(f"{seed}/{cls}/{split}/{index}".encode()).digest()
    return {"site": SITES[h[0] % len(SITES)], "sex": SEXES[h[1] % 2], "age_band": AGE_BANDS[h[2] % len(AGE_BANDS)]}


def render_group_split(
    cls: int, *, index: int, seed: int = 0, size: int = 96, shift: bool = True
) -> tuple[np.ndarray, dict[str, str]]:
    """One image of the ``test_groups`` split and its attributes.

    Args:
        cls: index into ``DEMO_CLASSES``.
        index: image index within the class.
        seed: data set seed.
        size: output side in pixels.
        shift: True: images of :data:`SHIFTED_SITE` use the shifted profile; False: the unbiased control.

    Returns:
        ``(uint8 image, {"site", "sex", "age_band"})``.
    """
    attrs = attributes(cls, GROUP_SPLIT, index, seed)
    rng = np.random.default_rng([seed, cls, _GROUP_STREAM, index])
    canvas = _DRAW[DEMO_CLASSES[cls].modality](DEMO_CLASSES[cls].label, size, rng)
    profile = SHIFTED if shift and attrs["site"] == SHIFTED_SITE else STANDARD
    return finish(canvas, rng, profile), attrs
