"""Tiny models with known gradient-masking defects (and a control) for the audit's tests and bench.

Each masked fixture wraps the same small MLP trained in-process on synthetic prototype images
(`tests.tiny_models.trained_tiny_mlp`), so its clean accuracy is high and its only defect is the
one added: the audit must flag it with the named check (`EXPECTED`).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tests.tiny_models import make_prototype_data, tiny_mlp, trained_tiny_mlp

EPS = float(__import__("os").environ.get("AUDIT_EPS", "0.15"))
INPUT = (8, 8, 1)
DATA_SEED = 2  # the audited points
SURROGATE_DATA_SEED = 3  # the standard surrogate's training images

# fixture -> the checks that must fire on it (the "proof" table, small scale).
EXPECTED = {
    "zero-gradient": (4, 7),
    "quantised-input": (4, 7, 9),
    "dropout-at-inference": (2,),
    "saturated-logits": (4, 14),
    "softmax-output": (1,),
    "label-smoothing-loss": (3,),
    "control": (),
}


@keras.saving.register_keras_serializable(package="tfls_tests")
class ZeroGradient(keras.layers.Layer):
    """Identity forward, zero gradient backward (`tf.custom_gradient`)."""

    def call(self, x):
        @tf.custom_gradient
        def identity(t):
            return tf.identity(t), lambda dy: tf.zeros_like(dy)

        return identity(x)


@keras.saving.register_keras_serializable(package="tfls_tests")
class Quantise(keras.layers.Layer):
    """Rounds inputs to `levels` steps: piecewise constant, so gradients are shattered."""

    def __init__(self, levels=4, **kwargs):
        super().__init__(**kwargs)
        self.levels = levels

    def call(self, x):
        return tf.round(x * self.levels) / self.levels

    def get_config(self):
        return {**super().get_config(), "levels": self.levels}


@keras.saving.register_keras_serializable(package="tfls_tests")
class AlwaysDropout(keras.layers.Layer):
    """Dropout that stays on at inference (a random model)."""

    def __init__(self, rate=0.3, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x):
        return keras.random.dropout(x, self.rate, seed=self.seed_generator)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package="tfls_tests")
class Scale(keras.layers.Layer):
    """Multiplies by a constant (logits × 1e4 saturate the softmax)."""

    def __init__(self, factor=1e4, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def data(n=64, seed=DATA_SEED):
    """`n` synthetic prototype images (the control gets ~95% of them right)."""
    return make_prototype_data(n, seed=seed)


def _wrap(name, before=(), after=()):
    base = trained_tiny_mlp()
    return keras.Sequential([keras.Input(INPUT), *before, base, *after], name=name)


def label_smoothing_model(alpha=0.9, seed=0):
    """A small MLP trained and compiled with `CategoricalCrossentropy(label_smoothing=alpha)`."""
    keras.utils.set_random_seed(seed)
    x, y = make_prototype_data(512, seed=1)
    model = keras.Sequential(
        [
            keras.Input(INPUT),
            keras.layers.Flatten(),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(10),
        ],
        name="label_smoothing_loss",
    )
    model.compile(
        keras.optimizers.Adam(0.01),
        keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=alpha),
    )
    model.fit(x, keras.utils.to_categorical(y, 10), epochs=10, batch_size=64, verbose=0)
    return model


def build(name: str):
    """The fixture model called `name` (a key of `EXPECTED`)."""
    if name == "control":
        return trained_tiny_mlp()
    if name == "zero-gradient":
        return _wrap("zero_gradient", before=[ZeroGradient()])
    if name == "quantised-input":
        return _wrap("quantised_input", before=[Quantise(4)])
    if name == "dropout-at-inference":
        return _wrap("dropout_at_inference", before=[AlwaysDropout(0.3)])
    if name == "saturated-logits":
        return _wrap("saturated_logits", after=[Scale(1e4)])
    if name == "softmax-output":
        return _wrap("softmax_output", after=[keras.layers.Softmax()])
    if name == "label-smoothing-loss":
        return label_smoothing_model()
    raise ValueError(f"Unknown fixture {name!r}. Expected one of: {', '.join(EXPECTED)}")


def accuracy(model, x, y) -> float:
    return float(np.mean(np.argmax(np.asarray(model(x)), axis=-1) == y))


_SURROGATES: dict = {}


def surrogate(seed=1, hidden=64, epochs=10):
    """A standard surrogate for the 8×8 fixtures (the small-scale stand-in of
    `tfls.audit.transfer.standard_surrogate`): a `tiny_mlp` of its own width and seed, trained
    naturally on 512 prototype images of the same distribution drawn with their own seed (3),
    so neither the audited points (`data()`, seed 2) nor the fixtures' training images (seed 1).
    """
    key = (seed, hidden, epochs)
    if key not in _SURROGATES:
        x, y = make_prototype_data(512, seed=SURROGATE_DATA_SEED)
        model = tiny_mlp(INPUT, 10, hidden=hidden, seed=seed)
        model.compile(
            keras.optimizers.Adam(0.01),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
        _SURROGATES[key] = model
    return _SURROGATES[key]
