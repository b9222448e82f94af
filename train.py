"""Thin entry point: ``torchrun --nproc_per_node=N train.py --config configs/train/demo.yaml [k=v ...]``.

Imports ``zeroshot.train_hook`` when the zeroshot package is installed (it registers the ``zeroshot``
evaluator with medclip's trainer), then runs :func:`medclip.train.main`.
"""

import importlib
import importlib.util
import sys

try:
    _hook = importlib.util.find_spec("zeroshot.train_hook")
except ModuleNotFoundError:
    _hook = None
if _hook is not None:
    importlib.import_module("zeroshot.train_hook")

from medclip.train import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
