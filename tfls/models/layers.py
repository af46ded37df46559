"""Custom layers of the tfls model zoo (registered so `keras.models.load_model` finds them)."""

from __future__ import annotations

import keras
import numpy as np

# Per-channel statistics of the CIFAR-10 training set (the values used across the literature).
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2471, 0.2435, 0.2616)


def standardize(x, mean, std):
    """`(x - mean) / std`, broadcast over the last (channel) axis."""
    return (x - keras.ops.convert_to_tensor(mean, x.dtype)) / keras.ops.convert_to_tensor(
        std, x.dtype
    )


@keras.saving.register_keras_serializable(package="tfls")
class Standardize(keras.layers.Layer):
    """Subtracts a fixed per-channel mean and divides by a fixed per-channel standard deviation.

    Keeps normalisation inside the model, so the model takes `[0, 1]` pixels and attacks work in
    pixel space. The statistics are constants of the config, not weights.

    Args:
        mean: one number per channel (or one number for all).
        std: one positive number per channel (or one number for all).
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `[..., channels]` tensor of images in `[0, 1]`.

    Returns:
        The standardised tensor, same shape.

    Example:
        >>> layer = Standardize(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
        >>> layer(np.ones((1, 2, 2, 3)))[0, 0, 0]  # [2., 2., 2.]
    """

    def __init__(self, mean, std, **kwargs):
        super().__init__(**kwargs)
        mean = np.atleast_1d(np.asarray(mean, np.float64))
        std = np.atleast_1d(np.asarray(std, np.float64))
        if mean.ndim != 1 or std.ndim != 1 or not np.isfinite(mean).all():
            raise ValueError(f"`mean` must be a number or a list of numbers. Received: mean={mean}")
        if not (np.isfinite(std).all() and (std > 0).all()):
            raise ValueError(f"`std` must be finite and > 0. Received: std={std.tolist()}")
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)

    def build(self, input_shape):
        channels = input_shape[-1]
        for arg, value in (("mean", self.mean), ("std", self.std)):
            if channels is not None and len(value) not in (1, channels):
                raise ValueError(
                    f"`{arg}` has {len(value)} values but the input has {channels} channels. "
                    f"Received: {arg}={list(value)}"
                )

    def call(self, inputs):
        return standardize(inputs, self.mean, self.std)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mean": list(self.mean), "std": list(self.std)}


def batch_norm(name):
    """BatchNorm with PyTorch's BatchNorm2d defaults (momentum 0.1 there = 0.9 here, eps 1e-5),
    as the TRADES / Madry reference networks use."""
    return keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)


def conv(filters, kernel, stride, init, name):
    """A bias-free 'same' convolution with the initialiser `init.conv()` (ResNet style)."""
    return keras.layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding="same",
        use_bias=False,
        kernel_initializer=init.conv(),
        name=name,
    )
