"""Statistics for evaluation reports (numpy only): bootstrap CIs, paired tests, calibration, protocols.

One concept per module:

- :mod:`.weights`     bootstrap resample-count matrices (plain or stratified), drawn in chunks;
- :mod:`.bootstrap`   percentile CIs of any metric written against a weight matrix;
- :mod:`.wmetrics`    vectorised weighted metrics (accuracy, balanced accuracy, macro F1, AUC, ECE ...);
- :mod:`.paired`      McNemar's exact test and the paired bootstrap of a difference;
- :mod:`.delong`      DeLong's test for two correlated AUCs (fast midrank algorithm);
- :mod:`.multiple`    Holm's step-down correction and the better / tie / worse verdict;
- :mod:`.calibration` ECE / NLL / Brier and temperature scaling;
- :mod:`.multilabel`  CheXpert-style thresholds and binary metrics at a threshold;
- :mod:`.subgroups`   per-group metrics, gaps and the permutation test of a gap;
- :mod:`.pooled`      several seeds of one method against one baseline (images are the unit).

Nothing here imports torch or the rest of ``zeroshot``; a serving path can import it cheaply.
"""

from .bootstrap import BootstrapConfig, bootstrap_ci, ci_dict
from .delong import delong_auc_variance, delong_test
from .multiple import holm, verdict
from .paired import mcnemar_exact, paired_bootstrap

__all__ = [
    "BootstrapConfig",
    "bootstrap_ci",
    "ci_dict",
    "delong_auc_variance",
    "delong_test",
    "holm",
    "mcnemar_exact",
    "paired_bootstrap",
    "verdict",
]
