"""The audit's standard surrogate: a zoo architecture trained naturally on the training split.

`standard_surrogate` trains (or loads from the model cache, `tfls.training.model_cache`) a zoo
architecture chosen by input shape, naturally, on the first images of the dataset's *training*
split: never the audited model's copy, never the audited points. Checks 8 and 16 craft on it
(`tfls.audit.transfer_checks`).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

# input shape (height, width, channels) -> the zoo model a standard surrogate uses.
ARCHITECTURES = {(28, 28, 1): "cnn4", (32, 32, 3): "small-cnn"}
# CPU-sized: on 2 CPU cores here cnn4 trains in ~40 s (Fashion-MNIST, 86% clean) and small-cnn
# in ~65 s (CIFAR-10, 60% clean). Natural training with the paper's defaults otherwise
# (`tfls.training.PAPER_DEFAULTS`: Adam 1e-3 for MNIST-like data, SGD 0.1 + augmentation for CIFAR).
EPOCHS = 5
LIMIT = 20_000


def _refuse_without_training_split(what: str, dataset) -> ValueError:
    return ValueError(
        f"A standard surrogate is trained on the dataset's training split, and {what} has none: "
        f"pass a surrogate model (--surrogate PATH, or surrogate=). Received: dataset={dataset!r}"
    )


def surrogate_dataset(dataset) -> str:
    """The built-in dataset name a standard surrogate can be trained on, else a one-line refusal.

    Arrays (a tuple, a `tf.data.Dataset`, a `.npz`/`.npy` file) have no training split; other
    specs (TFDS, folders) are refused too, as `tfls.training` trains on the built-ins only.
    """
    from tfls.data import parse_spec
    from tfls.training import DATASET_FAMILIES

    if not isinstance(dataset, (str, os.PathLike)):
        kind = type(dataset).__name__
        what = "data given as arrays" if isinstance(dataset, (tuple, list, np.ndarray)) else kind
        raise _refuse_without_training_split(what, f"<{kind}>")
    spec = parse_spec(dataset)
    if spec.kind == "arrays":
        raise _refuse_without_training_split(f"the array file {spec.name} (split `test`)", dataset)
    if spec.kind != "builtin":
        raise ValueError(
            f"A standard surrogate is trained through tfls.training, which trains on the built-in "
            f"datasets ({', '.join(DATASET_FAMILIES)}); pass a surrogate model trained on "
            f"{spec.name}'s training split (--surrogate PATH, or surrogate=). "
            f"Received: dataset={str(dataset)!r}"
        )
    return spec.name


def surrogate_config(
    dataset,
    *,
    input_shape,
    num_classes: int,
    data_dir=None,
    seed: int = 0,
    epochs: int | None = None,
    limit: int | None = None,
):
    """The `TrainConfig` (resolved) of the standard surrogate; checks everything, trains nothing.

    Args: as `standard_surrogate`.

    Returns:
        A natural `TrainConfig` of `ARCHITECTURES[input_shape]` on `dataset`, `epochs` (default
        `EPOCHS`) epochs on its first `limit` (default `LIMIT`) training images. `tfls.training`
        trains on the `train` split only; the test split serves for its clean accuracy.

    Raises:
        ValueError: in one line, for a dataset without a training split or not built in, an
            input shape no zoo model suits, a model of another shape or class count than the
            dataset's, or bad `epochs`/`limit`/`seed`.
    """
    import tfls.data
    from tfls.training import TrainConfig

    name = surrogate_dataset(dataset)
    try:
        shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError):
        shape = None
    architecture = ARCHITECTURES.get(shape) if shape is not None else None
    if architecture is None:
        known = ", ".join(f"{m} for {'×'.join(map(str, s))}" for s, m in ARCHITECTURES.items())
        raise ValueError(
            f"No standard surrogate for inputs of shape {input_shape} ({known}): pass a "
            f"surrogate model trained on the same task (--surrogate PATH, or surrogate=). "
            f"Received: input_shape={input_shape!r}"
        )
    info = tfls.data.info(name, data_dir=data_dir)
    if tuple(info.input_shape) != shape:
        raise ValueError(
            f"The standard surrogate trains on {name} at its own size {tuple(info.input_shape)}, "
            f"but the model takes {shape} (resized with --image-size?): pass --surrogate PATH. "
            f"Received: input_shape={shape}"
        )
    if int(info.num_classes) != int(num_classes):
        raise ValueError(
            f"{name} has {info.num_classes} classes but the model outputs {num_classes}: pass "
            f"--surrogate PATH. Received: num_classes={num_classes!r}"
        )
    return TrainConfig(
        dataset=name,
        model=architecture,
        method="natural",
        epochs=EPOCHS if epochs is None else epochs,
        limit=LIMIT if limit is None else limit,
        seed=seed,
        data_dir=None if data_dir is None else str(data_dir),
    ).resolved()


def standard_surrogate(
    dataset,
    *,
    input_shape,
    num_classes: int,
    data_dir=None,
    cache_dir=None,
    seed: int = 0,
    epochs: int | None = None,
    limit: int | None = None,
    log: Callable[[str], object] = print,
):
    """A standard architecture trained naturally on `dataset`'s training split, for check 8.

    The architecture is chosen by input shape (`ARCHITECTURES`: `cnn4` for 28×28 grey-scale,
    `small-cnn` for 32×32 RGB), not copied from the audited model, and it never sees the audited
    (test) points. Training runs through `tfls.training.model_cache.train_or_load`, so the run is
    cached by configuration hash (`<cache>/<hash>/`) and every later audit loads it.

    Args:
        dataset: a built-in dataset name (`"fashion_mnist"`, `"cifar10"`, ...).
        input_shape: the audited model's `(height, width, channels)`.
        num_classes: the audited model's number of classes.
        data_dir: offline data folder (`tfls.data.load`'s).
        cache_dir: the model cache (default `$TFLS_RECIPES_DIR`, else `./runs/recipes`).
        seed: the training seed (initial weights and data order).
        epochs: training epochs (default `EPOCHS` = 5).
        limit: training images, the first of the split (default `LIMIT` = 20,000).
        log: receives progress lines (training, or where the cached run was loaded from).

    Returns:
        A `keras.Model` from [0, 1] inputs to logits.

    Raises:
        ValueError: see `surrogate_config` (before anything is trained).

    Example:
        >>> surrogate = standard_surrogate("fashion_mnist", input_shape=(28, 28, 1), num_classes=10)
        >>> report = tfls.audit.audit(model, data, eps=0.1, surrogate=surrogate)

    Reference:
        Papernot, McDaniel & Goodfellow, "Transferability in Machine Learning", 2016 (a
        substitute trained on the task's data); Athalye et al. 2018, §3.1.
    """
    from tfls.training.model_cache import train_or_load

    config = surrogate_config(
        dataset,
        input_shape=input_shape,
        num_classes=num_classes,
        data_dir=data_dir,
        seed=seed,
        epochs=epochs,
        limit=limit,
    )
    # Not deterministic: op determinism is process-wide and cannot be undone, and the audit goes
    # on to run every attack in this process (on a GPU it refuses ops without a deterministic
    # kernel). The weights are fixed once cached, which is what makes audits repeatable.
    model, _, run_dir, trained = train_or_load(
        config, cache_dir=cache_dir, log=log, deterministic=False
    )
    if not trained:
        log(
            f"  standard surrogate: {config.model} (natural, {config.epochs} epochs on "
            f"{config.limit} {config.dataset} training images) loaded from {run_dir}"
        )
    return model
