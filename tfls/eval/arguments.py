"""The evaluator's arguments checked and read: the attacks mapping, in-memory batches, `n`."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from tfls import _validation as v
from tfls.data.reading import elements


def check_attacks(attacks) -> dict:
    if not isinstance(attacks, Mapping):
        raise ValueError(
            "`attacks` must be a mapping name -> attack, e.g. "
            "tfls.attacks.suite(model, ['pgd20'], eps=8/255). "
            f"Received: attacks={attacks!r}"
        )
    for name, attack in attacks.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"Attack names must be non-empty strings. Received: name={name!r}")
        if name in ("clean", "worst-case"):
            raise ValueError(
                f"Attack name {name!r} is reserved for the report. Received: name={name!r}"
            )
        if not callable(attack) or not hasattr(attack, "eps") or not hasattr(attack, "norm"):
            raise ValueError(
                f"Attack {name!r} must be callable as attack(x, y) and have `eps` and `norm` "
                f"attributes (a tfls.attacks.Attack). Received: {attack!r}"
            )
        v.check_norm(attack.norm)
        v.check_eps(attack.eps, norm=attack.norm)
    return dict(attacks)


def check_in_memory(dataset, classes: int | None, n: int | None) -> None:
    """Batches held in memory (a list, as `array_batches` makes): their labels fit the model's
    classes and they hold images, checked before any batch is attacked."""
    if not isinstance(dataset, (list, tuple)) or not all(
        isinstance(e, (tuple, list)) and len(e) == 2 for e in dataset
    ):
        return
    labels = [np.asarray(y) for _, y in dataset]
    if n is not None:  # only the first `n` images are evaluated
        kept, seen = [], 0
        for y in labels:
            kept.append(y[: max(0, n - seen)])
            seen += len(y)
        labels = kept
    if not any(y.size for y in labels):
        raise ValueError("`dataset` is empty: nothing to evaluate. Received: dataset=<empty>")
    if classes is None or not all(
        y.ndim == 1 and np.issubdtype(y.dtype, np.integer) for y in labels
    ):
        return  # unknown class count, or labels the per-batch checks will describe
    v.check_labels(np.concatenate(labels), num_classes=classes)


def batches(dataset, n):
    """Yields `(x, y)` numpy batches, truncated to the first `n` images."""
    seen = 0
    for element in elements(dataset):
        if not isinstance(element, (tuple, list)) or len(element) != 2:
            raise ValueError(
                "`dataset` must yield (images, labels) batches. Received an element of type "
                f"{type(element).__name__}"
            )
        x, y = (np.asarray(t) for t in element)
        if n is not None:
            if seen >= n:
                return
            x, y = x[: n - seen], y[: n - seen]
        seen += len(y)
        yield x, y


def known_size(dataset) -> int | None:
    try:
        return sum(len(y) for _, y in dataset) if isinstance(dataset, (list, tuple)) else None
    except TypeError:
        return None
