"""What `tfls bench autoattack` attacks: the model and its images, and the budgets of its
command line."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tfls.attacks.autoattack import SETTINGS


def load_benchmark(model, *, dataset=None, n=128, data_dir=None, split="test", offset=0):
    """The model to attack and `n` images from the `offset`-th on: `(model, x, y, about)`.

    `model` is a tfls run folder or `.keras` file (attacked on the dataset's labels), or an
    architecture name such as `"preact-resnet18"`, built with random weights (seed 0) and
    attacked on its own predictions, so that every image is attacked (`dataset` defaults to
    cifar10 then).
    """

    import tfls.data
    import tfls.models
    from tfls._validation import check_positive_int

    n = check_positive_int(n, name="n")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValueError(f"`offset` must be an int >= 0. Received: offset={offset!r}")
    held_out = f" (test {offset}-{offset + n - 1})" if offset else ""

    def images(dataset):
        try:
            x, y = tfls.data.load_arrays(dataset, split, data_dir=data_dir, limit=offset + n)
        except ValueError as error:  # a limit past the split's end, said in one line
            if not offset:
                raise
            raise ValueError(f"offset + n = {offset + n} images: {error}") from None
        return x[offset:], y[offset:]

    path = Path(str(model))
    if path.exists():
        from tfls.model_options import check_model_fits

        network, run = tfls.models.load(path)  # one (batch, classes) output, or refused
        dataset = dataset or run.get("dataset")
        if not dataset:
            raise ValueError(
                f"Name the model's dataset with --dataset. Received: model={str(model)!r}"
            )
        # Input shape and classes against the data's, before any image is read.
        check_model_fits(network, tfls.data.info(dataset, data_dir=data_dir), name=str(path))
        x, y = images(dataset)
        about = {
            "name": path.name + held_out,
            "path": str(path),
            "dataset": dataset,
            "labels": "dataset",
            **({"offset": offset} if offset else {}),
        }
        return network, x, y.astype(np.int32), about
    if not isinstance(model, str) or not _is_architecture(model):
        raise ValueError(
            "--model must be a run folder, a .keras file or an architecture name such as "
            f"preact-resnet18. Received: model={str(model)!r}"
        )
    dataset = dataset or "cifar10"
    x, _ = images(dataset)
    num_classes = 100 if dataset == "cifar100" else 10
    network = tfls.models.build(model, num_classes=num_classes, input_shape=x.shape[1:], seed=0)
    y = np.argmax(np.asarray(network(x, training=False)), -1).astype(np.int32)
    about = {
        "name": f"{model}-random{held_out}",
        "architecture": model,
        "dataset": dataset,
        "weights": "random (seed 0)",
        "labels": "the model's own predictions",
        **({"offset": offset} if offset else {}),
    }
    return network, x, y, about


def _is_architecture(name: str) -> bool:
    import tfls.models

    return name in tfls.models.NAMES or any(
        re.fullmatch(
            p.replace("<depth>", "[0-9]+").replace("<width>", "[0-9]+").replace("<k>", "[0-9]+"),
            name,
        )
        for p in tfls.models.PATTERNS
    )


def parse_budgets(items: Sequence[str]) -> dict:
    """`["square.n_queries=1000"]` -> `{"square": {"n_queries": 1000}}` (numbers parsed)."""
    overrides: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        component, dot, arg = key.partition(".")
        if not sep or not dot or component not in SETTINGS or arg not in SETTINGS[component][1]:
            raise ValueError(
                "A budget is COMPONENT.ARG=VALUE with an argument of that component's standard "
                f"settings, e.g. square.n_queries=1000. Received: {item!r}"
            )
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not np.isfinite(number):
            raise ValueError(
                f"A budget's VALUE must be a number, e.g. square.n_queries=1000. Received: {item!r}"
            )
        overrides.setdefault(component, {})[arg] = int(number) if number.is_integer() else number
    return overrides
