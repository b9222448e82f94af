"""Thin entry point: ``torchrun --nproc_per_node=N train.py --config configs/train/demo.yaml [k=v ...]``.

When the ``zeroshot`` package is installed, its evaluator (``eval.name: zeroshot``) is made available to
medclip's trainer: ``zeroshot.train_hook`` registers it. The hook is imported only when a config asks for that
evaluator, so runs without it do not pay for importing the evaluation stack.
"""

import importlib
import importlib.util
import os
import sys

from medclip.train import main
from medclip.train.evaluators import create_evaluator, register_evaluator


def _zeroshot_hook_available() -> bool:
    spec = importlib.util.find_spec("zeroshot")  # top-level lookup: does not import the package
    return bool(
        spec
        and spec.submodule_search_locations
        and any(os.path.isfile(os.path.join(p, "train_hook.py")) for p in spec.submodule_search_locations)
    )


if _zeroshot_hook_available():

    @register_evaluator("zeroshot")
    def _lazy_zeroshot(args: dict):
        importlib.import_module("zeroshot.train_hook")  # re-registers "zeroshot" with the real factory
        return create_evaluator("zeroshot", args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
