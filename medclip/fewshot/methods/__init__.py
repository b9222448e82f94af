"""The built-in few-shot methods, one file each; importing this package registers them in ``METHODS``.

Import order is registration order: the order of ``METHODS``, of the config sections and of the plot
styles (``zeroshot.plots``). ``medclip-fewshot --method all`` runs them cheapest first (``cost`` metadata).
"""

from . import zeroshot  # noqa: I001  (registration order)
from . import coop, cocoop, kgcoop, prograd, biomedcoop, vmfcoop_ours
from . import clip_adapter, tip_adapter, tip_adapter_f, linear_probe, lp_plusplus

__all__ = [
    "biomedcoop",
    "clip_adapter",
    "cocoop",
    "coop",
    "kgcoop",
    "linear_probe",
    "lp_plusplus",
    "prograd",
    "tip_adapter",
    "tip_adapter_f",
    "vmfcoop_ours",
    "zeroshot",
]
