"""The checks an attack runs on its call's inputs, labels and model (logits), before any work."""

from __future__ import annotations

import weakref

import numpy as np
import tensorflow as tf

from tfls import _validation as v


def validate_call(model, x, y, *, num_classes: int | None = None) -> None:
    """Checks inputs, labels and (once per model) that the model outputs logits; before any work."""
    if not tf.executing_eagerly():
        return  # symbolic call inside a functional model: shapes only, checked by Keras
    try:
        # Before anything is traced or cached, so that the answer never depends on earlier calls.
        expected = v.static_input_shape(model)
        if expected is not None:
            v.check_input_shape(x, expected, model=getattr(model, "name", "model"))
        v.check_images(x)
        outputs = _probe_outputs(model, x)
        classes = num_classes or int(outputs.shape[-1])
        v.check_labels(y, num_classes=classes, batch_size=int(np.shape(x)[0]))
    except ValueError as e:
        # Keras rewrites errors raised inside `Layer.call` into a many-line message quoting every
        # argument tensor; this marker (Keras' own, for nested calls) keeps ours one line.
        e._keras_call_info_injected = True
        raise


_LOGITS_CHECKED: weakref.WeakKeyDictionary[object, int] = weakref.WeakKeyDictionary()


def _probe_outputs(model, x):
    try:
        known = _LOGITS_CHECKED.get(model)
    except TypeError:
        known = None
    if known is not None:
        return tf.zeros([1, known])
    outputs = model(tf.convert_to_tensor(x[:8]), training=False)
    v.check_logits(outputs, name=getattr(model, "name", "model"))
    try:
        _LOGITS_CHECKED[model] = int(outputs.shape[-1])
    except TypeError:
        pass
    return outputs
