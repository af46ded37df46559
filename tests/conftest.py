"""Shared fixtures: tiny in-process models (built by `tests.tiny_models`) and the offline data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests import tiny_models

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


@pytest.fixture
def tiny_cnn():
    """`tiny_models.tiny_conv()`: 8×8×1 images, 10 classes, seed 0."""
    return tiny_models.tiny_conv()


@pytest.fixture
def trained_mlp():
    """`tiny_models.trained_tiny_mlp()`: trained once per session, ~95% clean accuracy."""
    return tiny_models.trained_tiny_mlp()


@pytest.fixture
def tiny_batch():
    rng = np.random.default_rng(0)
    x = rng.random((16, 8, 8, 1), dtype=np.float32)
    y = rng.integers(0, 10, 16).astype(np.int32)
    return x, y
