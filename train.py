"""Thin entry point: ``torchrun --nproc_per_node=N train.py --config configs/train/demo.yaml [k=v ...]``.

The same as the ``medclip-train`` console script. Evaluators of other packages (``eval.name: zeroshot``)
come from the ``medclip.evaluators`` entry-point group, loaded when a config names them
(:mod:`medclip.train.evaluator_registry`); nothing is registered here.
"""

import sys

from medclip.train import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
