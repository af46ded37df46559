"""Reader for the IDX files of the MNIST and Fashion-MNIST releases (`*-ubyte` or `*-ubyte.gz`)."""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import zlib
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


# Deflate compresses by at most ~1032:1, so a gzip file of C bytes decompresses to at most this
# many times C (plus its headers): a header promising more is refused before anything is read.
MAX_GZIP_RATIO = 1032
_CHUNK = 1 << 20


def read_idx_header(path: str | os.PathLike) -> tuple[np.dtype, tuple[int, ...], int]:
    """`(dtype, shape, header bytes)` of an IDX file, from its first bytes only.

    Raises:
        ValueError: not an IDX file, a damaged gzip stream, or a header of impossible size
            (larger than the file can hold), naming the file and the defect.
    """
    path = Path(path)
    with _reading(path) as f:
        dtype, shape, header = _header(f, path)
    return dtype, shape, header


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads one IDX file (gzip-compressed or not) into a numpy array of its stored shape.

    The header's sizes are compared with the file's own size before the data is read, and the
    data is read in chunks, so memory follows what the file holds, never what its header claims.

    Args:
        path: the file, e.g. `train-images-idx3-ubyte.gz`.

    Returns:
        The array, in native byte order (uint8 for the image and label files).

    Raises:
        ValueError: the file is not a well-formed IDX file (bad magic number, truncated,
            corrupt gzip data, sizes that disagree with its header), naming it and its defect.
    """
    path = Path(path)
    with _reading(path) as f:
        dtype, shape, header = _header(f, path)
        expected = _prod(shape) * dtype.itemsize
        chunks, held = [], 0
        while held <= expected:  # one byte past the promise is enough to see it is broken
            chunk = f.read(min(_CHUNK, expected + 1 - held))
            if not chunk:
                break
            chunks.append(chunk)
            held += len(chunk)
    if held != expected:
        raise ValueError(
            f"IDX file is truncated or corrupt: header promises shape {shape} "
            f"({header + expected} bytes) but the file holds "
            f"{'more' if held > expected else header + held} bytes. Received: path={path}"
        )
    data = b"".join(chunks)
    return np.frombuffer(data, dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _prod(shape) -> int:
    total = 1
    for d in shape:
        total *= int(d)  # Python integers: a forged header cannot overflow the comparison
    return total


def _header(f, path: Path) -> tuple[np.dtype, tuple[int, ...], int]:
    magic = f.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _DTYPES:
        found = "the file is empty" if not magic else f"bad magic number {magic!r}"
        raise ValueError(
            f"Not an IDX file ({found}; an IDX file starts with 00 00, a type code and its "
            f"number of dimensions). Received: path={path}"
        )
    dtype, ndim = np.dtype(_DTYPES[magic[2]]), magic[3]
    dims = f.read(4 * ndim)
    if len(dims) != 4 * ndim:
        raise ValueError(
            f"IDX file is truncated: its header announces {ndim} dimensions but the file ends "
            f"after {4 + len(dims)} bytes. Received: path={path}"
        )
    shape = tuple(int(d) for d in np.frombuffer(dims, ">u4"))
    header = 4 + 4 * ndim
    total = header + _prod(shape) * dtype.itemsize
    size = path.stat().st_size
    gz = path.name.endswith(".gz")
    most = size * MAX_GZIP_RATIO + 1024 if gz else size
    if total > most:
        holds = f"a gzip file of {size} bytes holds at most ~{most}" if gz else f"it holds {size}"
        raise ValueError(
            f"IDX file is truncated or corrupt: header promises shape {shape} ({total} bytes) "
            f"but {holds} bytes. Received: path={path}"
        )
    return dtype, shape, header


@contextlib.contextmanager
def _reading(path: Path):
    """Opens `path` (gunzipping a `.gz`); a damaged gzip stream becomes one ValueError."""
    gz = path.name.endswith(".gz")
    try:
        with (gzip.open if gz else open)(path, "rb") as f:
            yield f
    except gzip.BadGzipFile as e:
        raise ValueError(
            f"IDX file is not gzip data although its name ends in .gz ({e}). Received: path={path}"
        ) from None
    except EOFError:
        raise ValueError(
            "IDX file is truncated: its gzip stream ends before the end-of-stream marker (an "
            f"interrupted download or copy?). Received: path={path}"
        ) from None
    except zlib.error as e:
        raise ValueError(
            f"IDX file is corrupt: its gzip data does not decompress ({e}). Received: path={path}"
        ) from None


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
    """Reads an images/labels IDX pair into `(uint8 [N, H, W, 1], int32 [N])`.

    Both headers are compared (images N x H x W, labels N) before either file's data is read.
    """
    _, x_shape, _ = read_idx_header(images)
    _, y_shape, _ = read_idx_header(labels)
    if len(x_shape) != 3 or len(y_shape) != 1 or x_shape[0] != y_shape[0]:
        raise ValueError(
            f"IDX images and labels do not match: images shape {x_shape}, labels shape "
            f"{y_shape} (expected N x height x width and N). Received: images={images}, "
            f"labels={labels}"
        )
    x = read_idx(images)
    y = read_idx(labels)
    return x[..., None].astype(np.uint8), y.astype(np.int32)
