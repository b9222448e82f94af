"""The loss registry: every loss file registers its class here (``@LOSSES.register("clip")``).

Kept in its own module so loss files and ``medclip.losses`` both import it without a circle.
"""

from __future__ import annotations

from collections.abc import Callable

from medclip.registry import Registry

LOSSES: Registry[Callable] = Registry("loss")

__all__ = ["LOSSES"]
