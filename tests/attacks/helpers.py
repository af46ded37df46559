"""Small helpers the attack tests share: distances, accuracy and an any-size conv net."""

from __future__ import annotations

import numpy as np

from tests.tiny_models import any_size_conv


def distance(x_adv, x, norm):
    """Per-example L∞ or L2 distance, in float64."""
    d = (np.asarray(x_adv, np.float64) - np.asarray(x, np.float64)).reshape(len(x), -1)
    return np.abs(d).max(axis=1) if norm == "linf" else np.sqrt((d**2).sum(axis=1))


def accuracy(model, x, y):
    return float(np.mean(np.argmax(model(x), -1) == y))


def small_conv(channels=1, seed=0):
    """`tiny_models.any_size_conv` with 4 filters: any image size, so hypothesis can vary it."""
    return any_size_conv(channels, seed=seed, filters=4)
