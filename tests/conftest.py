"""Shared fixtures: tiny in-process models and the offline data copy."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The read-only offline data (`../shared/data`, or `$TFLS_DATA_DIR`)."""
    path = Path(os.environ.get("TFLS_DATA_DIR", SHARED_DATA))
    if not path.exists():
        pytest.skip(f"offline data not found at {path}")
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test writes caches into its own temporary folder, never into ../shared."""
    monkeypatch.setenv("TFLS_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "tfls-cache"))


def make_tiny_cnn(input_shape=(8, 8, 1), num_classes=10, seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(num_classes),
        ]
    )


@pytest.fixture
def tiny_cnn():
    return make_tiny_cnn()


@pytest.fixture
def tiny_batch():
    rng = np.random.default_rng(0)
    x = rng.random((16, 8, 8, 1), dtype=np.float32)
    y = rng.integers(0, 10, 16).astype(np.int32)
    return x, y


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
    """A small MLP trained in-process (~1-2 s, cached per arguments) on `make_prototype_data`:
    ~95% clean accuracy, and breakable by small perturbations, so attack strength is visible."""
    key = (seed, hidden, epochs)
    if key not in _TRAINED:
        import keras

        keras.utils.set_random_seed(seed)
        x, y = make_prototype_data(512, seed=1)
        model = keras.Sequential(
            [
                keras.Input((8, 8, 1)),
                keras.layers.Flatten(),
                keras.layers.Dense(hidden, activation="relu"),
                keras.layers.Dense(10),
            ]
        )
        model.compile(
            keras.optimizers.Adam(0.01),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
        _TRAINED[key] = model
    return _TRAINED[key]
