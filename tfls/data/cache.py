"""The tfls cache folder: archives unpacked once, decoded arrays stored as `.npz` (all atomic)."""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from tfls.hashing import digest_chunks
from tfls.io import atomic_path


def cache_dir() -> Path:
    """`$TFLS_CACHE_DIR`, else `~/.cache/tfls`."""
    env = os.environ.get("TFLS_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tfls"


def fingerprint(*parts) -> str:
    """A short stable hash of file identities (path, size, mtime...), used to name cache entries."""
    return digest_chunks([repr(parts)], algorithm="sha1", length=16)


def file_stamp(path: Path) -> tuple:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def is_archive(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and name.endswith((".tar", ".tar.gz", ".tgz"))


def archive_stem(path: Path) -> str:
    name = path.name
    for suffix in (".tar.gz", ".tgz", ".tar"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def unpack_once(archive: Path) -> Path:
    """Unpacks `archive` into the cache (never beside it) and returns the unpacked folder.

    The archive is extracted into a temporary folder inside the cache and renamed into place in one
    step, so an interrupted unpack leaves no half-filled folder and a second call (or a concurrent
    process) reuses the first complete one.
    """
    root = cache_dir() / "unpacked"
    final = root / f"{archive_stem(archive)}-{fingerprint(*file_stamp(archive))}"
    if final.is_dir():
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=root))
    try:
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "data_filter"):  # refuses absolute paths, `..`, device files
                tar.extractall(tmp, filter="data")
            else:  # pragma: no cover - Python without PEP 706
                tar.extractall(tmp)  # noqa: S202
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():  # not a lost race with another process: a real error
                raise
    except tarfile.TarError as e:
        raise ValueError(
            f"Could not unpack archive {archive}: {e}. Received: path={archive}"
        ) from e
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def load_npz(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path) as f:
            return f["x"], f["y"]
    except (OSError, ValueError, KeyError):
        return None  # a corrupt cache entry is rebuilt, not trusted


def save_npz(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    # Uncompressed: the point of the cache is a fast second load.
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, x=x, y=y)
