"""Small helpers the attack tests share: distances, accuracy and an any-size conv net."""

from __future__ import annotations

import keras
import numpy as np


def distance(x_adv, x, norm):
    """Per-example L∞ or L2 distance, in float64."""
    d = (np.asarray(x_adv, np.float64) - np.asarray(x, np.float64)).reshape(len(x), -1)
    return np.abs(d).max(axis=1) if norm == "linf" else np.sqrt((d**2).sum(axis=1))


def accuracy(model, x, y):
    return float(np.mean(np.argmax(model(x), -1) == y))


def small_conv(channels=1, seed=0):
    """Conv → global pooling → 10 logits: accepts any image size, so hypothesis can vary it."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((None, None, channels)),
            keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10),
        ]
    )
