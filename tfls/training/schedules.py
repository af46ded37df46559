"""Learning-rate schedules and optimizers built from a resolved `TrainConfig`."""

from __future__ import annotations

import keras

from tfls._validation import check_positive_int


def learning_rate(config, steps_per_epoch: int):
    """The config's learning rate: a float, or a `PiecewiseConstantDecay` over optimizer steps.

    With `lr_schedule="piecewise"` the rate is `lr` until the first milestone (a fraction of all
    `epochs`), then multiplied by `lr_decay` at each milestone; e.g. 0.1 → 0.01 at 50% → 0.001 at
    75%. Milestones are rounded to whole epochs, as the papers decay at epoch boundaries.
    """
    steps_per_epoch = check_positive_int(steps_per_epoch, name="steps_per_epoch")
    if config.lr_schedule == "constant" or not config.lr_milestones:
        return float(config.lr)
    epochs = sorted({max(1, round(m * config.epochs)) for m in config.lr_milestones})
    boundaries = [e * steps_per_epoch for e in epochs]
    values = [float(config.lr) * float(config.lr_decay) ** i for i in range(len(boundaries) + 1)]
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)


def make_optimizer(config, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """SGD with Nesterov-free momentum or Adam, with decoupled weight decay when non-zero."""
    lr = learning_rate(config, steps_per_epoch)
    wd = float(config.weight_decay) or None
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(
            learning_rate=lr, momentum=float(config.momentum), weight_decay=wd
        )
    return keras.optimizers.Adam(learning_rate=lr, weight_decay=wd)
