"""Builders of tiny on-disk datasets in every offline layout `tfls.data` reads."""

from __future__ import annotations

import gzip
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest

from tfls.data.registry import CIFAR10_CLASSES


@pytest.fixture(autouse=True)
def _no_tfds_download(monkeypatch):
    """Tests never try the network."""
    monkeypatch.setenv("TFLS_TFDS_DOWNLOAD", "0")
    monkeypatch.delenv("TFLS_DATA_DIR", raising=False)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Writes `array` (uint8) as an IDX file, gzip-compressed when `path` ends in `.gz`."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + np.ascontiguousarray(array, np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def make_idx_dataset(folder: Path, n_train=12, n_test=6, seed=0, gz=True):
    """Random 28x28 IDX files of both splits in `folder`; returns {split: (x, y)}."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, n).astype(np.uint8)
        ext = ".gz" if gz else ""
        write_idx(folder / f"{prefix}-images-idx3-ubyte{ext}", x)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", y)
        out[split] = (x, y)
    return out


def write_cifar_pickle(path: Path, images_nhwc: np.ndarray, labels, label_key: bytes) -> None:
    data = images_nhwc.transpose(0, 3, 1, 2).reshape(len(images_nhwc), -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump({b"data": data, label_key: list(map(int, labels))}, f)


def make_image_tree(root: Path, classes=CIFAR10_CLASSES, per_class=None, seed=0):
    """Writes a PNG tree `root/<split>/<class>/NNNN.png` of random 32x32 RGB images.

    Returns `{split: {(class, i): image}}`.
    """
    from PIL import Image

    per_class = per_class or {"train": 2, "test": 1}
    rng = np.random.default_rng(seed)
    images = {}
    for split, n in per_class.items():
        images[split] = {}
        for c in classes:
            (root / split / c).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                img = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(img).save(root / split / c / f"{i:04d}.png")
                images[split][(c, i)] = img
    return images


def make_tar(source_root: Path, archive: Path) -> None:
    with tarfile.open(archive, "w:gz") as tar:
        for child in sorted(source_root.iterdir()):
            tar.add(child, arcname=child.name)
