"""Reader for the python-pickle releases of CIFAR (`cifar-10-batches-py`, `cifar-100-python`)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}

_FILES = {
    ("cifar10", "train"): tuple(f"data_batch_{i}" for i in range(1, 6)),
    ("cifar10", "test"): ("test_batch",),
    ("cifar100", "train"): ("train",),
    ("cifar100", "test"): ("test",),
}
_LABEL_KEY = {"cifar10": b"labels", "cifar100": b"fine_labels"}


def batch_files(folder: Path, name: str, split: str) -> list[Path] | None:
    """The pickle files of `split` inside `folder` (e.g. `.../cifar-10-batches-py`), or None."""
    files = [folder / f for f in _FILES[(name, split)]]
    return files if all(f.is_file() for f in files) else None


def read_batch(path: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Reads one pickle batch into `(uint8 [N, 32, 32, 3], int32 [N])`."""
    with open(path, "rb") as f:
        # These are the publisher's own files; pickle is the format they ship in.
        batch = pickle.load(f, encoding="bytes")
    try:
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[_LABEL_KEY[name]], dtype=np.int32)
    except (KeyError, TypeError):
        raise ValueError(
            f"Not a {name} python batch (expected keys b'data' and {_LABEL_KEY[name]!r}). "
            f"Received: path={path}"
        ) from None
    if data.ndim != 2 or data.shape[1] != 3072 or data.shape[0] != labels.shape[0]:
        raise ValueError(
            f"Malformed {name} batch: data shape {data.shape}, labels shape {labels.shape}. "
            f"Received: path={path}"
        )
    # Stored as N x (3 planes of 32x32): go to NHWC.
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels


def load_batches(files: list[Path], name: str) -> tuple[np.ndarray, np.ndarray]:
    parts = [read_batch(f, name) for f in files]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
