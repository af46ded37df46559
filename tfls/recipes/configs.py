"""The recipes' cache step: a plan's model as the `TrainConfig` the model cache is keyed by.

The cache itself (`config_hash`, `cache_root`, `train_or_load`) is `tfls.training.model_cache`, shared
with the audit's standard surrogate; this module only turns a `ModelPlan` into its config.
"""

from __future__ import annotations

from tfls.recipes.plan import ModelPlan


def train_config(model: ModelPlan, *, data_dir=None):
    """The `TrainConfig` (resolved: every paper default filled in) for one model of a plan."""
    from tfls.training import TrainConfig

    train = dict(model.train)
    if "model" not in train:
        raise ValueError(
            f"Model {model.id!r} has no architecture: set `model` in [scales.<scale>.train] or "
            f"[scales.<scale>.models.{model.group}]. Received: train={train}"
        )
    arch = train.pop("model")
    if "lr_milestones" in train and train["lr_milestones"] is not None:
        train["lr_milestones"] = tuple(train["lr_milestones"])
    config = TrainConfig(
        dataset=model.dataset,
        model=arch,
        method=model.method,
        label_smoothing=model.label_smoothing,
        data_dir=data_dir,
        **train,
    )
    return config.resolved()
