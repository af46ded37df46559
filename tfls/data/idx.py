"""Reader for the IDX files of the MNIST and Fashion-MNIST releases (`*-ubyte` or `*-ubyte.gz`)."""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import numpy as np

# IDX type codes (third magic byte) -> numpy big-endian dtype.
_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

_PREFIX = {"train": "train", "test": "t10k"}

# Folder names under a data directory that hold the IDX files of each dataset.
FOLDERS = {
    "mnist": ("mnist", "MNIST", "mnist/raw", "MNIST/raw"),
    "fashion_mnist": ("fashion-mnist", "fashion_mnist", "FashionMNIST", "FashionMNIST/raw"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads one IDX file (gzip-compressed or not) into a numpy array of its stored shape.

    Args:
        path: the file, e.g. `train-images-idx3-ubyte.gz`.

    Returns:
        The array, in native byte order (uint8 for the image and label files).

    Raises:
        ValueError: the file is not a well-formed IDX file.
    """
    path = Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise ValueError(f"Not an IDX file (bad magic number {data[:4]!r}). Received: path={path}")
    dtype = np.dtype(_DTYPES[data[2]])
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(
            f"IDX file is truncated or corrupt: header promises shape {shape} ({expected} bytes) "
            f"but the file holds {len(data)} bytes. Received: path={path}"
        )
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find(folder: Path, stem: str) -> Path | None:
    # `train-images-idx3-ubyte` is the published name; some mirrors use `train-images.idx3-ubyte`.
    pattern = re.compile(re.escape(stem).replace(r"\-idx", r"[-.]idx") + r"(\.gz)?$")
    if not folder.is_dir():
        return None
    matches = sorted(p for p in folder.iterdir() if pattern.fullmatch(p.name))
    # Prefer the uncompressed file if both exist: it reads faster.
    matches.sort(key=lambda p: p.name.endswith(".gz"))
    return matches[0] if matches else None


def find_idx_pair(folder: Path, split: str) -> tuple[Path, Path] | None:
    """Returns `(images, labels)` IDX paths of `split` directly inside `folder`, or None."""
    prefix = _PREFIX[split]
    images = _find(folder, f"{prefix}-images-idx3-ubyte")
    labels = _find(folder, f"{prefix}-labels-idx1-ubyte")
    return (images, labels) if images and labels else None


def candidate_folders(root: Path, name: str) -> list[Path]:
    """The folders under `root` where the IDX files of `name` may sit, most specific first."""
    folders = [root / sub for sub in FOLDERS[name]]
    # Files directly in `root` are taken too, unless `root` is plainly the *other* dataset's folder
    # (asking for mnist inside `.../fashion-mnist` must not silently return Fashion-MNIST).
    other = "fashion" in root.name.lower()
    if name == "fashion_mnist" or not other:
        folders.append(root)
    return folders


def load_idx(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
    """Reads an images/labels IDX pair into `(uint8 [N, H, W, 1], int32 [N])`."""
    x = read_idx(images)
    y = read_idx(labels)
    if x.ndim != 3 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"IDX images and labels do not match: images shape {x.shape}, labels shape {y.shape}. "
            f"Received: images={images}, labels={labels}"
        )
    return x[..., None].astype(np.uint8), y.astype(np.int32)
