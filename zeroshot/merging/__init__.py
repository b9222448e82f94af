"""The merging evaluation protocol (T3 / T3_B and baselines on a suite), the expert-making script and the
``medclip-merge`` command. The merge engines themselves live in :mod:`medclip.merge`.
"""
