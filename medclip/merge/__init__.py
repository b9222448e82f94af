"""Test-time model merging: T3 / T3_B coefficients, exact per-sample merge engines, static baselines.

Import the pieces from their modules (``medclip.merge.coef``, ``.pair``, ``.dual``, ``.engines``,
``.static``, ``.baselines``, ``.t3``); this package file stays import-cheap. The methods ``run_methods``
evaluates are registered in ``.registry.MERGE_METHODS``, one family per file in ``.methods``.
"""
