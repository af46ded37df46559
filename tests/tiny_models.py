"""The tiny Keras models every test builds (and the synthetic data some are trained on), in one place.

Each factory fixes Keras' global seed before it creates a layer, so a factory called with the same
arguments returns the same weights in every test and in every subprocess that imports this module.
"""

from __future__ import annotations

import numpy as np


def tiny_conv(
    input_shape=(8, 8, 1),
    num_classes=10,
    *,
    seed=0,
    filters=8,
    strides=1,
    padding="valid",
    pool="flatten",
):
    """Conv2D(3×3, ReLU) → flatten (or global average pooling, `pool="average"`) → logits."""
    import keras

    if pool not in ("flatten", "average"):
        raise ValueError(f"pool must be 'flatten' or 'average'. Received: pool={pool!r}")
    keras.utils.set_random_seed(seed)
    head = keras.layers.Flatten() if pool == "flatten" else keras.layers.GlobalAveragePooling2D()
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Conv2D(filters, 3, strides=strides, padding=padding, activation="relu"),
            head,
            keras.layers.Dense(num_classes),
        ]
    )


def any_size_conv(channels=1, num_classes=10, *, seed=None, filters=6):
    """A `tiny_conv` that takes images of any height and width (hypothesis varies them).

    The seed defaults to `channels`, so the 1- and 3-channel nets differ.
    """
    return tiny_conv(
        (None, None, channels),
        num_classes,
        seed=channels if seed is None else seed,
        filters=filters,
        padding="same",
        pool="average",
    )


def tiny_mlp(input_shape=(8, 8, 1), num_classes=10, *, hidden=32, seed=0):
    """Flatten → Dense(`hidden`, ReLU) → logits; `hidden=None` leaves a linear model."""
    import keras

    keras.utils.set_random_seed(seed)
    layers = [keras.Input(input_shape), keras.layers.Flatten()]
    if hidden:
        layers.append(keras.layers.Dense(hidden, activation="relu"))
    return keras.Sequential([*layers, keras.layers.Dense(num_classes)])


def linear(kernel, bias=None, *, input_shape=None):
    """logits = flatten(x) @ kernel + bias: a model whose decision boundary is known in closed form.

    Args:
        kernel: `(d, num_classes)` weights.
        bias: `(num_classes,)` offsets (zeros if None).
        input_shape: the input's shape (default `(d,)`); anything with `d` elements.
    """
    import keras

    kernel = np.asarray(kernel, np.float32)
    d, k = kernel.shape
    bias = np.zeros(k, np.float32) if bias is None else np.asarray(bias, np.float32)
    input_shape = (d,) if input_shape is None else tuple(input_shape)
    if int(np.prod(input_shape)) != d:
        raise ValueError(f"input_shape must have {d} elements. Received: input_shape={input_shape}")
    layers = [keras.Input(input_shape)]
    if len(input_shape) > 1:
        layers.append(keras.layers.Flatten())
    dense = keras.layers.Dense(k)
    model = keras.Sequential([*layers, dense])
    dense.set_weights([kernel, bias])
    return model


def make_prototype_data(n, *, seed, num_classes=10, shape=(8, 8, 1), noise=0.25):
    """Synthetic images: a fixed random prototype per class plus Gaussian noise, in [0, 1]."""
    protos = np.random.default_rng(12345).uniform(0.2, 0.8, (num_classes, *shape))
    protos = protos.astype(np.float32)
    rng = np.random.default_rng(seed)
    y = rng.integers(0, num_classes, n).astype(np.int32)
    x = np.clip(protos[y] + noise * rng.normal(size=(n, *shape)), 0.0, 1.0).astype(np.float32)
    return x, y


_TRAINED: dict = {}


def trained_tiny_mlp(seed=0, hidden=32, epochs=10):
    """A `tiny_mlp` trained in-process (~1-2 s, cached per arguments) on `make_prototype_data`:
    ~95% clean accuracy, and breakable by small perturbations, so attack strength is visible."""
    key = (seed, hidden, epochs)
    if key not in _TRAINED:
        import keras

        x, y = make_prototype_data(512, seed=1)
        model = tiny_mlp((8, 8, 1), 10, hidden=hidden, seed=seed)
        model.compile(
            keras.optimizers.Adam(0.01),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
        _TRAINED[key] = model
    return _TRAINED[key]


def quadrant_data(n=512, *, seed=0):
    """4 classes: one bright image quadrant each, on grey, plus Gaussian noise; in [0, 1]."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n).astype(np.int32)
    patterns = np.zeros((4, 8, 8, 1), np.float32)
    patterns[0, :4, :4] = patterns[1, :4, 4:] = patterns[2, 4:, :4] = patterns[3, 4:, 4:] = 1.0
    noise = 0.2 * rng.standard_normal((n, 8, 8, 1))
    x = np.clip(0.35 + 0.3 * patterns[y] + noise, 0.0, 1.0).astype(np.float32)
    return x, y


def trained_quadrant_cnn():
    """A `tiny_conv` with 4 classes fitted for 8 epochs on `quadrant_data` (clean acc. ~99%),
    cached; returns `(model, x, y)` with the 512 training images."""
    if "quadrant" not in _TRAINED:
        import keras

        x, y = quadrant_data()
        model = tiny_conv((8, 8, 1), 4, seed=0)
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, epochs=8, batch_size=64, verbose=0)
        _TRAINED["quadrant"] = (model, x, y)
    return _TRAINED["quadrant"]


def mean_threshold_case(n=8):
    """A two-class linear model (class 0 iff the mean pixel exceeds 0.5) and `n` 8×8 images of
    class 0: every other one fragile (mean 0.52, one ε = 0.05 step from the boundary), the rest
    robust (mean 0.9). Returns `(model, x, y, fragile)`."""
    import keras

    model = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(2)]
    )
    weights = np.stack([np.full(64, 1 / 64), np.full(64, -1 / 64)], 1).astype(np.float32)
    model.layers[-1].set_weights([weights, np.array([-0.5, 0.5], np.float32)])
    fragile = np.arange(n) % 2 == 1
    x = np.where(fragile[:, None, None, None], 0.52, 0.9).astype(np.float32)
    x = np.broadcast_to(x, (n, 8, 8, 1)).copy()
    return model, x, np.zeros(n, np.int32), fragile
