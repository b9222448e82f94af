"""Few-shot protocol (spec §8): Dassl-order K-shot sampling, runner, aggregation, reports, CLI."""

from .aggregate import base_novel_split, harmonic_mean, hm_of_means, mean_of_hms, seed_stats
from .sampler import SubsetCache, dassl_fewshot, sample_per_class

__all__ = [
    "SubsetCache",
    "base_novel_split",
    "dassl_fewshot",
    "harmonic_mean",
    "hm_of_means",
    "mean_of_hms",
    "sample_per_class",
    "seed_stats",
]
