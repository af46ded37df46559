"""CIFAR training augmentation: 4-pixel zero padding, a random crop back to size, a random flip.

This is the augmentation of Madry et al. and TRADES (torchvision `RandomCrop(32, padding=4)`, whose
padding is zeros, then `RandomHorizontalFlip()`), written with stateless TF ops over a whole batch
so the same seed gives the same augmented batch.
"""

from __future__ import annotations

import tensorflow as tf

PADDING = 4


def pad_crop_flip(images: tf.Tensor, seed: tf.Tensor, *, padding: int = PADDING) -> tf.Tensor:
    """Randomly translates (by zero-padding and cropping) and horizontally flips each image.

    Args:
        images: `[B, H, W, C]` float images.
        seed: shape-`[2]` integer seed of the stateless random ops.
        padding: pixels of zeros added on every side before cropping back to `H x W`.

    Returns:
        Augmented images of the same shape and dtype.

    Reference:
        Zhang et al., "Theoretically Principled Trade-off between Robustness and Accuracy" (TRADES),
        ICML 2019; Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks",
        ICLR 2018.
    """
    if padding < 0:
        raise ValueError(f"`padding` must be >= 0. Received: padding={padding}")
    shape = tf.shape(images)
    b, h, w = shape[0], images.shape[1], images.shape[2]
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=3)
    padded = tf.pad(images, [[0, 0], [padding, padding], [padding, padding], [0, 0]])
    dy = tf.random.stateless_uniform([b], seeds[0], 0, 2 * padding + 1, dtype=tf.int32)
    dx = tf.random.stateless_uniform([b], seeds[1], 0, 2 * padding + 1, dtype=tf.int32)
    rows = dy[:, None] + tf.range(h)[None, :]  # [B, H]
    cols = dx[:, None] + tf.range(w)[None, :]  # [B, W]
    cropped = tf.gather(padded, rows, axis=1, batch_dims=1)  # [B, H, W + 2p, C]
    cropped = tf.gather(cropped, cols, axis=2, batch_dims=1)  # [B, H, W, C]
    flip = tf.random.stateless_uniform([b], seeds[2]) < 0.5
    return tf.where(flip[:, None, None, None], tf.reverse(cropped, axis=[2]), cropped)
