"""Models whose backward pass lies about their forward pass, and honest controls, for check 15.

Each lying fixture is a small classifier trained in-process on synthetic prototype images
(`tests.tiny_models`) with one registered layer whose gradient is wrong, placed before it or
inside it; `LYING_LAYER[name]` is that layer's name, which check 15 must localise. The controls
are honest models (natural, convolutional, cnn4 on Fashion-MNIST, label-smoothed, adversarially
trained) and one random model, which check 15 skips.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tests.audit.fixtures import label_smoothing_model
from tests.tiny_models import make_prototype_data, tiny_conv, tiny_mlp, trained_tiny_mlp

INPUT = (8, 8, 1)


@keras.saving.register_keras_serializable(package="tfls_tests")
class ReversedBackward(keras.layers.Layer):
    """Identity forward, −dy backward: every gradient points downhill."""

    def call(self, x):
        @tf.custom_gradient
        def reversed_identity(t):
            return tf.identity(t), lambda dy: -dy

        return reversed_identity(x)


@keras.saving.register_keras_serializable(package="tfls_tests")
class NoisyBackward(keras.layers.Layer):
    """Identity forward; backward dy plus Gaussian noise `scale` times the RMS of dy (per call).

    Args:
        scale: the noise's standard deviation relative to the RMS of the incoming gradient.
        seed: seed of the noise's `keras.random.SeedGenerator`.
    """

    def __init__(self, scale=10.0, seed=0, **kwargs):
        super().__init__(**kwargs)
        if scale < 0:
            raise ValueError(f"scale must be >= 0. Received: scale={scale}")
        self.scale = scale
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x):
        @tf.custom_gradient
        def noisy_identity(t):
            def grad(dy):
                rms = tf.sqrt(tf.reduce_mean(tf.square(dy)))
                noise = keras.random.normal(tf.shape(dy), seed=self.seed_generator)
                return dy + self.scale * rms * noise

            return tf.identity(t), grad

        return noisy_identity(x)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "seed": self.seed}


@keras.saving.register_keras_serializable(package="tfls_tests")
class RescaledBackward(keras.layers.Layer):
    """Identity forward, dy × `factor` backward: the direction is right, the size is not
    (sign-PGD cannot see it; a step-size rule or a line search on the gradient can)."""

    def __init__(self, factor=1e-3, **kwargs):
        super().__init__(**kwargs)
        if factor <= 0:
            raise ValueError(f"factor must be > 0. Received: factor={factor}")
        self.factor = factor

    def call(self, x):
        @tf.custom_gradient
        def rescaled_identity(t):
            return tf.identity(t), lambda dy: dy * self.factor

        return rescaled_identity(x)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package="tfls_tests")
class Shattered(keras.layers.Layer):
    """x + `amplitude` · sin(`frequency` · x): invisible in the forward pass, but its exact
    derivative 1 + amplitude·frequency·cos(frequency·x) swings wildly from pixel to pixel, so the
    gradient says nothing about the loss one step away (Athalye et al.'s shattered gradients)."""

    def __init__(self, amplitude=0.02, frequency=20000.0, **kwargs):
        super().__init__(**kwargs)
        self.amplitude = amplitude
        self.frequency = frequency

    def call(self, x):
        return x + self.amplitude * tf.sin(self.frequency * x)

    def get_config(self):
        return {**super().get_config(), "amplitude": self.amplitude, "frequency": self.frequency}


@keras.saving.register_keras_serializable(package="tfls_tests")
class HalfStopped(keras.layers.Layer):
    """Identity forward; no gradient reaches the left `share` of the image's columns:
    `m·x + (1 − m)·stop_gradient(x)` with m = 0 there and 1 elsewhere."""

    def __init__(self, share=0.5, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= share <= 1:
            raise ValueError(f"share must be in [0, 1]. Received: share={share}")
        self.share = share

    def call(self, x):
        width = x.shape[2]
        keep = (np.arange(width) >= round(self.share * width)).astype(np.float32)
        m = tf.constant(keep.reshape(1, 1, width, 1), x.dtype)
        return m * x + (1.0 - m) * tf.stop_gradient(x)

    def get_config(self):
        return {**super().get_config(), "share": self.share}


@keras.saving.register_keras_serializable(package="tfls_tests")
class StopGradient(keras.layers.Layer):
    """`tf.stop_gradient`: identity forward, no gradient (one branch of a two-branch net)."""

    def call(self, x):
        return tf.stop_gradient(x)


# ---------------------------------------------------------------------------------------------
# Lying fixtures: name -> the model; LYING_LAYER: the layer check 15 must name.

LYING_LAYER = {
    "reversed": "reversed_backward",
    "noisy": "noisy_backward",
    "rescaled-down": "rescaled_backward",
    "rescaled-up": "rescaled_backward",
    "shattered": "shattered",
    "half-stopped": "half_stopped",
    "stopped-branch": "stopped_branch",
}


def _before(layer, name):
    return keras.Sequential([keras.Input(INPUT), layer, trained_tiny_mlp()], name=name)


def _inside(layer, name):
    """The trained MLP with `layer` between its hidden layer and its logits (weights shared)."""
    base = trained_tiny_mlp()
    flatten, hidden, logits = base.layers
    return keras.Sequential([keras.Input(INPUT), flatten, hidden, layer, logits], name=name)


def inserted(model, layer, after=None, name=None):
    """A Sequential-like functional `model` with `layer` called after its layer named `after`
    (`None`: before the first), its other layers (and weights) shared."""
    inputs = keras.Input(model.input_shape[1:])
    t = inputs if after is not None else layer(inputs)
    for each in model.layers[1:]:
        t = each(t)
        if each.name == after:
            t = layer(t)
    return keras.Model(inputs, t, name=name or f"{model.name}_{layer.name}")


_BRANCHED: dict = {}


def stopped_branch_model(seed=0):
    """Two dense branches on the flattened image, one behind `StopGradient` (named
    "stopped_branch"), concatenated into the logits; trained 10 epochs (~1 s, cached)."""
    if seed not in _BRANCHED:
        keras.utils.set_random_seed(seed)
        inputs = keras.Input(INPUT)
        flat = keras.layers.Flatten()(inputs)
        left = keras.layers.Dense(16, activation="relu")(flat)
        right = keras.layers.Dense(16, activation="relu")(StopGradient(name="stopped_branch")(flat))
        logits = keras.layers.Dense(10)(keras.layers.Concatenate()([left, right]))
        model = keras.Model(inputs, logits, name="stopped_branch_net")
        x, y = make_prototype_data(512, seed=1)
        model.compile(
            keras.optimizers.Adam(0.01),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        model.fit(x, y, epochs=10, batch_size=64, verbose=0)
        _BRANCHED[seed] = model
    return _BRANCHED[seed]


def lying(name: str) -> keras.Model:
    """The lying fixture called `name` (a key of `LYING_LAYER`); a fresh wrapper per call."""
    layer = LYING_LAYER.get(name)
    if name == "reversed":
        return _before(ReversedBackward(name=layer), "reversed")
    if name == "noisy":
        return _inside(NoisyBackward(10.0, seed=0, name=layer), "noisy")
    if name == "rescaled-down":
        return _before(RescaledBackward(1e-3, name=layer), "rescaled_down")
    if name == "rescaled-up":
        return _before(RescaledBackward(1e3, name=layer), "rescaled_up")
    if name == "shattered":
        return _before(Shattered(0.02, 20000.0, name=layer), "shattered")
    if name == "half-stopped":
        return _before(HalfStopped(0.5, name=layer), "half_stopped")
    if name == "stopped-branch":
        return stopped_branch_model()
    raise ValueError(f"Unknown lying fixture {name!r}. Expected one of: {', '.join(LYING_LAYER)}")


def data(n=128, seed=2):
    """`n` prototype images unseen in training (the tiny MLP gets ~95% of them right)."""
    return make_prototype_data(n, seed=seed)


# ---------------------------------------------------------------------------------------------
# Honest controls: name -> (model, x, y).

CONTROLS = ("mlp", "conv", "label-smoothing", "madry", "cnn4", "input-noise")
_CONTROLS: dict = {}


def _fit(model, x, y, *, epochs, lr=0.01, batch_size=64):
    model.compile(
        keras.optimizers.Adam(lr), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)
    return model


def madry_mlp(eps=0.1, steps=5, epochs=10, seed=0, hidden=32):
    """A tiny MLP adversarially trained (Madry et al. 2018: CE on PGD-`steps` examples at L∞
    `eps`, step 2.5·eps/steps, from a random start) on 512 prototype images."""
    from tfls.training.methods import madry_examples

    x, y = make_prototype_data(512, seed=1)
    model = tiny_mlp(INPUT, 10, hidden=hidden, seed=seed)
    optimizer = keras.optimizers.Adam(0.01)
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def train_step(xb, yb, x_adv):
        with tf.GradientTape() as tape:
            loss = ce(yb, model(x_adv, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))

    for epoch in range(epochs):
        for i in range(0, len(x), 64):
            xb, yb = tf.constant(x[i : i + 64]), tf.constant(y[i : i + 64])
            x_adv = madry_examples(
                model,
                xb,
                yb,
                eps=eps,
                steps=steps,
                step_size=2.5 * eps / steps,
                seed=tf.constant([epoch, i], tf.int32),
            )
            train_step(xb, yb, x_adv)
    return model


def cnn4_fashion(data_dir, *, train=4000, epochs=1, seed=0):
    """`tfls.models.build("cnn4")` trained `epochs` on the first `train` Fashion-MNIST training
    images (Adam 1e-3, batch 64); returns it with 128 test images."""
    import tfls.data
    import tfls.models

    x, y = tfls.data.load_arrays("fashion_mnist", "train", data_dir=data_dir, limit=train)
    keras.utils.set_random_seed(seed)
    model = tfls.models.build("cnn4", num_classes=10, input_shape=(28, 28, 1), seed=seed)
    _fit(model, x, y, epochs=epochs, lr=1e-3)
    xt, yt = tfls.data.load_arrays("fashion_mnist", "test", data_dir=data_dir, limit=128)
    return model, xt, yt


def control(name: str, data_dir=None):
    """`(model, x, y)` of the honest control `name` (a key of `CONTROLS`), cached."""
    if name not in CONTROLS:
        raise ValueError(f"Unknown control {name!r}. Expected one of: {', '.join(CONTROLS)}")
    if name in _CONTROLS:
        return _CONTROLS[name]
    x, y = data()
    if name == "mlp":
        found = trained_tiny_mlp(), x, y
    elif name == "conv":
        xt, yt = make_prototype_data(512, seed=1)
        found = _fit(tiny_conv(INPUT, 10, seed=0), xt, yt, epochs=10), x, y
    elif name == "label-smoothing":
        found = label_smoothing_model(0.9), x, y
    elif name == "madry":
        found = madry_mlp(), x, y
    elif name == "cnn4":
        found = cnn4_fashion(data_dir)
    else:  # input-noise: random at inference
        import tfls.models

        found = tfls.models.defend(trained_tiny_mlp(), noise=0.1), x, y
    _CONTROLS[name] = found
    return found


def clean_mask(model, x, y) -> np.ndarray:
    return np.argmax(np.asarray(model(x, training=False)), axis=-1) == y
