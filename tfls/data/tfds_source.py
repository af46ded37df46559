"""The TensorFlow Datasets source: prepared TFDS data on disk, else a download (needs a network)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np

DOWNLOAD_ENV = "TFLS_TFDS_DOWNLOAD"


def download_allowed() -> bool:
    """Downloads are on unless `$TFLS_TFDS_DOWNLOAD` is `0`/`false`/`no` (offline machines, CI)."""
    return os.environ.get(DOWNLOAD_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
_PROBE_HOST = ("storage.googleapis.com", 443)  # where TFDS fetches MNIST and CIFAR from


def network_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP probe of TFDS's download host.

    Without it, an offline TFDS download spends minutes in urllib3 retries before failing. Behind
    a proxy the direct probe proves nothing, so the download is then simply attempted.
    """
    if any(os.environ.get(v) for v in _PROXY_VARS):
        return True
    try:
        with socket.create_connection(_PROBE_HOST, timeout=timeout):
            return True
    except OSError:
        return False


def _as_arrays(tfds, name: str, split: str, data_dir, download: bool):
    ds = tfds.load(
        name,
        split=split,
        data_dir=None if data_dir is None else str(data_dir),
        download=download,
        as_supervised=True,
        batch_size=-1,
        shuffle_files=False,
    )
    x, y = tfds.as_numpy(ds)
    return np.asarray(x, np.uint8), np.asarray(y, np.int32)


def tfds_arrays(
    name: str, split: str, data_dir: Path | None, looked: list[str]
) -> tuple[np.ndarray, np.ndarray, str] | None:
    """Loads `name`/`split` through `tfds.load`; returns `(x, y, description)` or None.

    Prepared data is looked for in `data_dir` (when given) and in TFDS's default folder
    (`$TFDS_DATA_DIR` or `~/tensorflow_datasets`); only if neither has it, and downloads are
    allowed, does TFDS download into its default folder. Every place tried is appended to
    `looked` for the caller's error message.
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        looked.append(f"TensorFlow Datasets: not importable ({e}); pip install tensorflow-datasets")
        return None
    dirs = ([data_dir] if data_dir is not None else []) + [None]
    for d in dirs:
        builder = tfds.builder(name, data_dir=None if d is None else str(d))
        where = f"TFDS prepared data in {builder.data_dir}"
        if builder.is_prepared():
            x, y = _as_arrays(tfds, name, split, d, download=False)
            return x, y, where
        looked.append(f"{where} (not prepared)")
    if not download_allowed():
        looked.append(f"TFDS download (skipped: ${DOWNLOAD_ENV}=0)")
        return None
    if not network_reachable():
        looked.append(f"TFDS download of {name!r} (skipped: {_PROBE_HOST[0]} is unreachable)")
        return None
    try:
        x, y = _as_arrays(tfds, name, split, None, download=True)
    except Exception as e:  # noqa: BLE001 - any download failure becomes one clear error upstream
        first_line = (str(e).strip().splitlines() or [""])[0][:200]
        looked.append(f"TFDS download of {name!r} (failed: {type(e).__name__}: {first_line})")
        return None
    return x, y, f"TFDS download of {name!r}"
