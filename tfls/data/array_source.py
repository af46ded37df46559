"""Array-file datasets: a `.npz` holding `x` and `y` (and optionally `class_names`), or an `.npy` pair.

`x` is `N x H x W x C` (or `N x H x W`, grayscale), uint8 in `[0, 255]` or float in `[0, 1]`; `y`
holds `N` integer labels. The file is one split, called `test` (`test[:100]` slices it). `.npy`
files are memory-mapped, so only the batches in use are read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfls.data.spec import npy_pair, parse_split, slice_bounds

SPLIT = "test"


def _open(path: Path, *, mmap: bool):
    """`(x, y, class_names or None)` of the file, unchecked; `.npy` memory-mapped when `mmap`."""
    if path.suffix.lower() == ".npz":
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("x", "y") if k not in f.files]
            if missing:
                raise ValueError(
                    f"{path.name} holds arrays {sorted(f.files)} but a dataset .npz needs `x` "
                    f"(images) and `y` (labels): save it with np.savez(path, x=..., y=...). "
                    f"Received: dataset={str(path)!r}"
                )
            names = f["class_names"] if "class_names" in f.files else None
            return f["x"], f["y"], names
    x_file, y_file = npy_pair(path)
    mode = "r" if mmap else None
    return np.load(x_file, mmap_mode=mode), np.load(y_file), None


def _check(path: Path, x: np.ndarray, y: np.ndarray, names) -> tuple[int, tuple[str, ...]]:
    """Checks shapes, dtypes, ranges and labels; returns `(num_classes, class_names)`."""
    where = f"dataset={str(path)!r}"
    if x.ndim not in (3, 4):
        raise ValueError(
            f"`x` of {path.name} must be N x H x W x C or N x H x W (grayscale). "
            f"Received: x.shape={x.shape}, {where}"
        )
    if not (x.dtype == np.uint8 or np.issubdtype(x.dtype, np.floating)):
        raise ValueError(
            f"`x` of {path.name} must be uint8 (0..255) or float in [0, 1]; convert it with "
            f"x.astype(np.uint8) or x / 255. Received: x.dtype={x.dtype}, {where}"
        )
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"`y` of {path.name} must hold integer labels, shape [N] (use y.argmax(-1) for "
            f"one-hot labels). Received: y.shape={y.shape}, y.dtype={y.dtype}, {where}"
        )
    if len(x) != len(y):
        raise ValueError(
            f"`x` and `y` of {path.name} must have the same length. "
            f"Received: len(x)={len(x)}, len(y)={len(y)}, {where}"
        )
    if len(y) == 0:
        raise ValueError(f"{path.name} holds no examples. Received: len(x)=0, {where}")
    if np.issubdtype(x.dtype, np.floating):
        low, high = np.nanmin(x), np.nanmax(x)
        if np.isnan(x).any():
            bad = int(np.argwhere(np.isnan(x).reshape(len(x), -1).any(axis=1))[0, 0])
            raise ValueError(
                f"`x` of {path.name} holds NaN (first in image {bad}); float images must be "
                f"finite, in [0, 1]. Received: x[{bad}] has NaN, {where}"
            )
        if low < 0 or high > 1:
            raise ValueError(
                f"Float images of {path.name} must lie in [0, 1] (divide [0, 255] images by "
                f"255). Received: x in [{low:g}, {high:g}], {where}"
            )
    if y.min() < 0:
        raise ValueError(
            f"Labels of {path.name} must be >= 0. Received: y.min()={int(y.min())}, {where}"
        )
    if names is not None:
        names = tuple(str(n) for n in np.asarray(names).reshape(-1))
        if y.max() >= len(names):
            raise ValueError(
                f"Labels of {path.name} must be < {len(names)}, its number of class_names. "
                f"Received: y.max()={int(y.max())}, {where}"
            )
        return len(names), names
    num_classes = int(y.max()) + 1
    return num_classes, tuple(str(i) for i in range(num_classes))


def _input_shape(x: np.ndarray) -> tuple[int, int, int]:
    return (*x.shape[1:3], x.shape[3] if x.ndim == 4 else 1)


def read_info(path: Path) -> tuple[int, tuple[int, int, int], tuple[str, ...], int]:
    """`(num_classes, input_shape, class_names, size)`; `.npy` images are not read."""
    x, y, names = _open(path, mmap=True)
    if x.ndim in (3, 4) and y.ndim == 1 and len(x) == len(y) and len(y):
        shape = _input_shape(x)
        if names is not None:
            names = tuple(str(n) for n in np.asarray(names).reshape(-1))
            return len(names), shape, names, len(y)
        if np.issubdtype(y.dtype, np.integer) and y.min() >= 0:
            return int(y.max()) + 1, shape, tuple(str(i) for i in range(int(y.max()) + 1)), len(y)
    num_classes, names = _check(path, x, y, names)  # raises the one-line error
    return num_classes, _input_shape(x), names, len(y)  # pragma: no cover - _check raised


def read_split(path: Path, split: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Checked `(x uint8 or float [N, H, W, C], y int32 [N], class_names)` of `split`."""
    name, part = parse_split(split)
    if name != SPLIT:
        raise ValueError(
            f"An array file is one split, called {SPLIT!r} (slices such as {SPLIT}[:100] "
            f"work); pass split={SPLIT!r}. Received: split={split!r}"
        )
    x, y, names = _open(path, mmap=True)
    _, names = _check(path, x, y, names)
    if x.ndim == 3:
        x = x[..., None]
    keep = slice_bounds(part, len(y))
    if len(keep) == 0:
        raise ValueError(f"The slice {split!r} of {path.name} is empty. Received: split={split!r}")
    if len(keep) != len(y):
        x, y = x[keep.start : keep.stop : keep.step], y[keep.start : keep.stop : keep.step]
    return x, np.asarray(y, np.int32), names
