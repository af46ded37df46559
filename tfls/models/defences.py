"""Two defences that mask gradients, to put in front of a model: noise and quantisation.

Neither makes a model robust; both make plain white-box attacks report that it is. They are
here so that an evaluation can be checked against a known answer (the adaptive attacks of
`tfls.attacks.adaptive` must see through them) and so the README's examples run on any model:

* `InputNoise(stddev)`: Gaussian noise on the input at every call, at inference too. The model
  becomes random: attack it with EOT (`eot=`) and score it over draws (`tfls.eval.evaluate`
  does when it finds a model random).
* `Quantize(levels)`: rounds every pixel to `levels` steps. Its gradient is zero almost
  everywhere: attack it with BPDA (`bpda=["quantize"]` or `bpda="auto"`).

`defend(model, noise=..., levels=...)` puts them in front of a model, inputs in [0, 1].
"""

from __future__ import annotations

import keras

from tfls import _validation as v


@keras.saving.register_keras_serializable(package="tfls")
class InputNoise(keras.layers.Layer):
    """Adds N(0, `stddev`²) to every input value on every call, in training and at inference.

    Args:
        stddev: the noise's standard deviation (pixels are in [0, 1]).
        seed: seed of its `keras.random.SeedGenerator`.

    Reference:
        Cohen, Rosenfeld & Kolter, "Certified Adversarial Robustness via Randomized Smoothing",
        ICML 2019 (the noise, not the certificate).
    """

    def __init__(self, stddev=0.1, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.stddev = v.check_nonnegative(stddev, name="stddev")
        self.seed = v.check_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def call(self, x):
        return x + self.stddev * keras.random.normal(keras.ops.shape(x), seed=self.seed_generator)

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


@keras.saving.register_keras_serializable(package="tfls")
class Quantize(keras.layers.Layer):
    """Rounds every value to the nearest of `levels + 1` steps in [0, 1] (bit-depth reduction).

    Args:
        levels: the number of steps (e.g. 8: values 0, 1/8, ..., 1).

    Reference:
        Xu, Evans & Qi, "Feature Squeezing", NDSS 2018; broken by BPDA in Athalye et al., 2018.
    """

    def __init__(self, levels=8, **kwargs):
        super().__init__(**kwargs)
        self.levels = v.check_positive_int(levels, name="levels")

    def call(self, x):
        return keras.ops.round(x * self.levels) / self.levels

    def get_config(self):
        return {**super().get_config(), "levels": self.levels}


def defend(model, *, noise: float | None = None, levels: int | None = None, name=None):
    """`model` behind `InputNoise(noise)` and/or `Quantize(levels)` (in that order).

    Example:
        >>> noisy = defend(model, noise=0.1)          # random: attack with eot=10
        >>> squeezed = defend(model, levels=8)        # no gradient: attack with bpda="auto"
    """
    if noise is None and levels is None:
        raise ValueError("defend() needs noise= or levels=. Received: noise=None, levels=None")
    shape = v.static_input_shape(model)
    if shape is None:
        raise ValueError(
            f"defend() needs a model with one static input shape. Received: model={model.name!r}"
        )
    inputs = keras.Input(shape[1:])
    x = inputs
    if noise is not None:
        x = InputNoise(noise, name="input_noise")(x)
    if levels is not None:
        x = Quantize(levels, name="quantize")(x)
    suffix = "_".join(p for p, given in (("noise", noise), ("quantized", levels)) if given)
    return keras.Model(inputs, model(x), name=name or f"{model.name}_{suffix}")
