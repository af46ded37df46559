"""Numpy arrays as an evaluation dataset: one `(x, y)` pair becomes a list of `(x, y)` batches."""

from __future__ import annotations

import numpy as np

from tfls._validation import check_label_vector

ARRAY_BATCH_SIZE = 100


def array_batches(dataset):
    """`(x, y)` numpy arrays -> a list of `(x, y)` batches; batches of any other kind unchanged."""
    if not isinstance(dataset, tuple) or len(dataset) != 2:
        return dataset
    if all(isinstance(e, (tuple, list)) and len(e) == 2 for e in dataset):
        return dataset  # two (images, labels) batches
    x, y = (np.asarray(a) for a in dataset)
    if x.ndim < 2 or y.ndim == 0 or len(x) != len(y) and y.ndim != 1:
        return dataset  # not an (x, y) pair: `tfls.eval.arguments.batches` says what is wrong
    check_label_vector(y)  # one-hot or float labels beside their images: said as such
    if len(x) != len(y):
        raise ValueError(
            f"`dataset` as (x, y) arrays needs as many labels as images. "
            f"Received: x has {len(x)} images, y has {len(y)} labels"
        )
    return [
        (x[i : i + ARRAY_BATCH_SIZE], y[i : i + ARRAY_BATCH_SIZE])
        for i in range(0, len(y), ARRAY_BATCH_SIZE)
    ]
