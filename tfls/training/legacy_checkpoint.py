"""Reads the `checkpoints/epoch-NNNN.npz` files of run folders written before tfls used
`tf.train.Checkpoint`, so those runs still resume (read once; the next save writes the new format).

Such a file holds the network's and the optimizer's variables in `.variables` order
(`network/00000`, `optimizer/00000`, ...) and a JSON `state` (history, wall time, finished epoch).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

PATTERN = "epoch-*.npz"


def list_files(folder: Path) -> list[Path]:
    """The legacy checkpoint files in a `checkpoints/` folder, oldest first."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(PATTERN) if p.stem[6:].isdigit())


def load(path: Path, network, optimizer) -> dict:
    """Restores `network` and `optimizer` from a legacy `.npz`; returns its state dict.

    Raises ValueError naming the file when it is unreadable or does not match the model.
    """
    import numpy as np

    try:
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        state = json.loads(arrays.pop("state").tobytes().decode())
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
        raise ValueError(
            f"Checkpoint {path} is corrupt or unreadable ({e}). Received: checkpoint={str(path)!r}"
        ) from None
    _assign(path, "network", network.variables, arrays)
    _assign(path, "optimizer", optimizer.variables, arrays)
    return state


def _assign(path, prefix, variables, arrays):
    saved = sorted(k for k in arrays if k.startswith(prefix + "/"))
    if len(saved) != len(variables):
        raise ValueError(
            f"Checkpoint {path} does not match the {prefix}: it holds {len(saved)} variables, the "
            f"{prefix} has {len(variables)}. Received: checkpoint={str(path)!r}"
        )
    for key, var in zip(saved, variables, strict=True):
        if tuple(arrays[key].shape) != tuple(var.shape):
            raise ValueError(
                f"Checkpoint {path} does not match the {prefix}: {var.path} has shape "
                f"{tuple(var.shape)}, the checkpoint {tuple(arrays[key].shape)}. "
                f"Received: checkpoint={str(path)!r}"
            )
    for key, var in zip(saved, variables, strict=True):
        var.assign(arrays[key])
