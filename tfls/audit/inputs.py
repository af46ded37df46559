"""The audit's inputs, checked before any attack runs: the points as arrays, the model's task
(input shape and classes) and the surrogate's against it."""

from __future__ import annotations

import numpy as np

from tfls import _validation as v
from tfls.data.reading import elements


def load_points(dataset, n=None) -> tuple[np.ndarray, np.ndarray]:
    """The audited points as numpy `(x float32, y int32)`: the first `n` of `dataset`."""
    if isinstance(dataset, tuple) and len(dataset) == 2 and not _is_batch_pair_list(dataset):
        xs, ys = [np.asarray(dataset[0])], [np.asarray(dataset[1])]
    else:
        xs, ys, seen = [], [], 0
        for element in elements(dataset):
            if not isinstance(element, (tuple, list)) or len(element) != 2:
                raise ValueError(
                    "`dataset` must be (x, y) arrays or yield (images, labels) batches. "
                    f"Received an element of type {type(element).__name__}"
                )
            xb, yb = np.asarray(element[0]), np.asarray(element[1])
            xs.append(xb)
            ys.append(yb)
            seen += len(yb)
            if n is not None and seen >= n:
                break
    if not xs:
        raise ValueError("`dataset` is empty: nothing to audit. Received: dataset=<empty>")
    x, y = np.concatenate(xs), np.concatenate(ys)
    if n is not None:
        if len(y) < n:
            raise ValueError(
                f"`dataset` has only {len(y)} images, fewer than requested. Received: n={n}"
            )
        x, y = x[:n], y[:n]
    v.check_images(x)
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"Labels must be integers. Received: y.dtype={y.dtype}")
    if len(y) == 0:
        raise ValueError("`dataset` is empty: nothing to audit. Received: dataset=<empty>")
    return x.astype(np.float32), y.astype(np.int32)


def _is_batch_pair_list(dataset) -> bool:
    """`((x0, y0), (x1, y1))`: two batches, not one `(x, y)` pair."""
    return all(isinstance(e, (tuple, list)) and len(e) == 2 for e in dataset)


def _static_task(model, name: str):
    """`(input shape without the batch, classes)` the model declares; None for each unknown."""
    classes = v.model_classes(model, name=name)
    shape = v.static_input_shape(model)
    return (None if shape is None else tuple(shape[1:])), classes


def _check_same_task(model, surrogate) -> None:
    (m_in, m_out) = _static_task(model, "model")
    if surrogate is None:
        return
    (s_in, s_out) = _static_task(surrogate, "surrogate")
    if m_in is not None and s_in is not None and None not in m_in + s_in and m_in != s_in:
        raise ValueError(
            f"The surrogate takes inputs of shape {s_in} but the model {m_in}. "
            f"Received: surrogate input shape {s_in}"
        )
    if m_out is not None and s_out is not None and m_out != s_out:
        raise ValueError(
            f"The surrogate outputs {s_out} classes but the model {m_out}. "
            f"Received: surrogate classes={s_out}"
        )


def _probe_classes(model, x, name: str = "model") -> int:
    """The model's class count from one call on two points, after checking they fit its input."""
    expected = v.static_input_shape(model)
    if expected is not None:
        v.check_input_shape(x, expected, model=getattr(model, "name", name))
    out = model(x[:2], training=False)
    classes = v.check_output_structure(out, name=getattr(model, "name", name))
    return int(np.shape(out)[1]) if classes is None else int(classes)
