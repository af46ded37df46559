"""Seeded weight initializers: one fresh seed per layer, drawn from the model's `seed`."""

from __future__ import annotations

import keras
import numpy as np


class SeededInitializers:
    """Hands out initializers whose seeds follow from one integer, so the same `seed` builds the
    same initial weights. With `seed=None` the initializers are unseeded (Keras' global RNG).

    Args:
        seed: integer seed of the whole model, or None.
    """

    def __init__(self, seed: int | None):
        self.seed = seed
        self._rng = None if seed is None else np.random.default_rng(seed)

    def _next(self) -> int | None:
        return None if self._rng is None else int(self._rng.integers(0, 2**31 - 1))

    def conv(self):
        """He normal over fan-out: `N(0, 2 / (k*k*out_channels))`, the WRN/ResNet convention."""
        return keras.initializers.VarianceScaling(
            scale=2.0, mode="fan_out", distribution="untruncated_normal", seed=self._next()
        )

    def he(self):
        return keras.initializers.HeNormal(seed=self._next())

    def dense(self):
        """Uniform in `±1/sqrt(fan_in)`: PyTorch's default `nn.Linear` init used by WRN/TRADES."""
        return keras.initializers.VarianceScaling(
            scale=1.0 / 3.0, mode="fan_in", distribution="uniform", seed=self._next()
        )

    def glorot(self):
        return keras.initializers.GlorotUniform(seed=self._next())
