"""Array-file datasets: a `.npz` holding `x` and `y` (and optionally `class_names`), or an `.npy` pair.

`x` is `N x H x W x C` (or `N x H x W`, grayscale), uint8 in `[0, 255]` or float in `[0, 1]`; `y`
holds `N` integer labels. The file is one split, called `test` (`test[:100]` slices it). `.npy`
files are memory-mapped, so only the batches in use are read.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from tfls.data.spec import npy_pair, parse_split, slice_bounds

SPLIT = "test"


def _open(path: Path, *, mmap: bool, images: bool = True):
    """`(x, y, class_names or None)` of the file, unchecked; `.npy` memory-mapped when `mmap`.

    With `images=False` an `.npz`'s `x` is only its header (`ArrayHeader`: shape and dtype),
    so that its size and labels are checked before its pixels are read.
    """
    if path.suffix.lower() != ".npz":
        x_file, y_file = npy_pair(path)
        mode = "r" if mmap else None
        return _npy(x_file, mmap_mode=mode), _npy(y_file), None
    f = _npz(path)
    with f:
        missing = [k for k in ("x", "y") if k not in f.files]
        if missing:
            raise ValueError(
                f"{path.name} holds arrays {sorted(f.files)} but a dataset .npz needs `x` "
                f"(images) and `y` (labels): save it with np.savez(path, x=..., y=...). "
                f"Received: dataset={str(path)!r}"
            )
        try:
            names = f["class_names"] if "class_names" in f.files else None
            x = f["x"] if images else _header(f, "x")
            return x, f["y"], names
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
            raise ValueError(
                f"{path.name} is a damaged .npz file: an array in it cannot be read ({_why(e)}). "
                f"Received: dataset={str(path)!r}"
            ) from None


class ArrayHeader:
    """The shape and dtype of an array in an `.npz`, read from its header, without its data."""

    def __init__(self, shape, dtype):
        self.shape, self.dtype, self.ndim = tuple(shape), np.dtype(dtype), len(shape)

    def __len__(self) -> int:
        return self.shape[0] if self.shape else 0


def _header(f, key: str) -> ArrayHeader:
    fmt = np.lib.format
    with f.zip.open(f"{key}.npy") as member:
        version = fmt.read_magic(member)
        read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, _, dtype = read(member)
    return ArrayHeader(shape, dtype)


def _npz(path: Path):
    """`np.load` of a `.npz`; a file that is no readable zip of arrays is one ValueError."""
    try:
        f = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(
            f"{path.name} is not a readable .npz file ({_why(e)}); save one with "
            f"np.savez(path, x=images, y=labels). Received: dataset={str(path)!r}"
        ) from None
    if not isinstance(f, np.lib.npyio.NpzFile):  # an .npy renamed .npz: one bare array
        raise ValueError(
            f"{path.name} holds one bare array, not the named arrays of an .npz; save one with "
            f"np.savez(path, x=images, y=labels). Received: dataset={str(path)!r}"
        )
    return f


def _npy(path: Path, **kwargs):
    try:
        return np.load(path, allow_pickle=False, **kwargs)
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError) as e:
        raise ValueError(
            f"{path.name} is not a readable .npy file ({_why(e)}). Received: dataset={str(path)!r}"
        ) from None


def _why(error) -> str:
    text = " ".join(str(error).split())
    if "pickled" in text:  # numpy's guess for bytes it cannot parse: say what it means here
        return "its bytes are neither a zip archive of .npy arrays nor a plain .npy array"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


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
    if np.issubdtype(x.dtype, np.floating) and not isinstance(x, ArrayHeader):
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
    """`(num_classes, input_shape, class_names, size)`; no pixel is read (`.npy` files are
    memory-mapped, an `.npz`'s `x` is only its header) unless the arrays are bad."""
    x, y, names = _open(path, mmap=True, images=False)
    if x.ndim in (3, 4) and y.ndim == 1 and len(x) == len(y) and len(y):
        shape = _input_shape(x)
        if names is not None:
            names = tuple(str(n) for n in np.asarray(names).reshape(-1))
            return len(names), shape, names, len(y)
        if np.issubdtype(y.dtype, np.integer) and y.min() >= 0:
            return int(y.max()) + 1, shape, tuple(str(i) for i in range(int(y.max()) + 1)), len(y)
    _check(path, x, y, names)  # shapes, lengths and labels: the one-line error, no pixel read
    x, y, names = _open(path, mmap=True)
    num_classes, names = _check(path, x, y, names)
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
