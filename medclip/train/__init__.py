"""The medclip trainer: ``main(argv)`` / ``cli()``, typed config, evaluator plug-ins.

Heavy modules (the loop, DDP, data loading) load on first use; ``import medclip.train`` stays light.
"""

from .config import CheckpointConfig, EvalConfig, LossConfig, ModelConfig, OptimConfig, TrainConfig
from .evaluators import create_evaluator, list_evaluators, register_evaluator
from .main import cli, main

__all__ = [
    "CheckpointConfig",
    "EvalConfig",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "TrainConfig",
    "cli",
    "create_evaluator",
    "list_evaluators",
    "main",
    "register_evaluator",
]
