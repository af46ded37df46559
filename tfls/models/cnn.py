"""Small convolutional nets: the paper's 4-layer MNIST CNN and a quick CIFAR CNN for CPUs."""

from __future__ import annotations

import keras

from tfls.models.initializers import SeededInitializers
from tfls.models.layers import CIFAR10_MEAN, CIFAR10_STD, Standardize


def cnn4(num_classes: int, input_shape, *, seed: int | None = None) -> keras.Model:
    """The 4-convolution MNIST network of Carlini & Wagner, also TRADES' MNIST `SmallCNN`.

    conv3x3(32)-ReLU-conv3x3(32)-ReLU-maxpool2 - conv3x3(64)-ReLU-conv3x3(64)-ReLU-maxpool2 -
    dense(200)-ReLU-dropout(0.5)-dense(200)-ReLU-dense(num_classes). Valid padding, so a 28x28
    input flattens to 4x4x64 = 1024 features; about 312k parameters for 10 classes. No input
    normalisation (the papers feed `[0, 1]` pixels directly). Outputs logits.

    Reference:
        Carlini & Wagner, "Towards Evaluating the Robustness of Neural Networks", S&P 2017
        (Table 1); Zhang et al., TRADES, ICML 2019 (`SmallCNN`).
    """
    init = SeededInitializers(seed)
    inputs = keras.Input(input_shape, name="images")
    x = inputs
    for i, filters in enumerate((32, 32, 64, 64)):
        x = keras.layers.Conv2D(
            filters, 3, activation="relu", kernel_initializer=init.he(), name=f"conv{i + 1}"
        )(x)
        if i % 2 == 1:
            x = keras.layers.MaxPooling2D(2, name=f"pool{i // 2 + 1}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(200, activation="relu", kernel_initializer=init.he(), name="fc1")(x)
    x = keras.layers.Dropout(0.5, seed=init._next(), name="dropout")(x)
    x = keras.layers.Dense(200, activation="relu", kernel_initializer=init.he(), name="fc2")(x)
    logits = keras.layers.Dense(num_classes, kernel_initializer=init.glorot(), name="logits")(x)
    return keras.Model(inputs, logits, name="cnn4")


def small_cnn(num_classes: int, input_shape, *, seed: int | None = None) -> keras.Model:
    """A quick CIFAR network for CPU runs (about 73k parameters; not from the paper).

    Standardize - [conv3x3(c)-BN-ReLU x2 - maxpool2] for c in 16, 32, 64 - global average pool -
    dense(num_classes). Outputs logits.
    """
    init = SeededInitializers(seed)
    inputs = keras.Input(input_shape, name="images")
    x = _maybe_standardize(inputs, input_shape)
    for stage, filters in enumerate((16, 32, 64)):
        for j in range(2):
            x = keras.layers.Conv2D(
                filters,
                3,
                padding="same",
                use_bias=False,
                kernel_initializer=init.he(),
                name=f"conv{stage + 1}_{j + 1}",
            )(x)
            x = keras.layers.BatchNormalization(
                momentum=0.9, epsilon=1e-5, name=f"bn{stage + 1}_{j + 1}"
            )(x)
            x = keras.layers.ReLU(name=f"relu{stage + 1}_{j + 1}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{stage + 1}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="avgpool")(x)
    logits = keras.layers.Dense(num_classes, kernel_initializer=init.glorot(), name="logits")(x)
    return keras.Model(inputs, logits, name="small_cnn")


def _maybe_standardize(inputs, input_shape):
    """CIFAR statistics for RGB inputs; grey-scale inputs are used as they are."""
    if input_shape[-1] == 3:
        return Standardize(CIFAR10_MEAN, CIFAR10_STD, name="standardize")(inputs)
    return inputs
