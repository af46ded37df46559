"""Training with label smoothing, Madry adversarial training or TRADES, under tf.distribute.

`train(config, out)` writes a run folder; `load_run(out)` reads it back as `(model, run_dict)`.
"""

from tfls.training.config import DATASET_FAMILIES, METHODS, PAPER_DEFAULTS, TrainConfig
from tfls.training.run_folder import load_run
from tfls.training.runner import RunResult, train
from tfls.training.trainer import AdversarialTrainer, build_trainer

__all__ = [
    "AdversarialTrainer",
    "DATASET_FAMILIES",
    "METHODS",
    "PAPER_DEFAULTS",
    "RunResult",
    "TrainConfig",
    "build_trainer",
    "load_run",
    "train",
]
