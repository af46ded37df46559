"""A finished run folder, read: `model.keras` and `run.json` (what `tfls.training` writes there).

The format's names live here, below training, so that loading a model (`tfls.models.load`, a run
folder among the formats it takes) never imports the trainer. Writing a run folder, its
checkpoints and what `--overwrite` may remove are `tfls.training.run_folder`.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

MODEL_FILE = "model.keras"
RUN_FILE = "run.json"
CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
LOG_DIR = "logs"
BACKUP_DIR = "backup"


def has_checkpoint(folder: Path) -> bool:
    """True when `folder/checkpoints/` holds an epoch checkpoint (a run that can be resumed)."""
    checkpoints = Path(folder) / CHECKPOINT_DIR
    return checkpoints.is_dir() and any(checkpoints.glob("epoch-*"))


def load_run(path) -> tuple:
    """Loads a finished run folder → `(model, run_dict)`.

    A model holding tfls attack layers needs `tfls.attacks` imported first (`tfls.training`,
    which re-exports this function, and every tfls command do that).

    Args:
        path: the run folder (holding `model.keras` and `run.json`), or one of those two files.

    Raises:
        FileNotFoundError: the folder, its `model.keras` or its `run.json` is missing.
        ValueError: a file is corrupt.

    Example:
        >>> model, run = tfls.training.load_run("runs/ls09")
        >>> run["clean_accuracy"]
    """
    import keras

    from tfls.models import defences, layers, wrap  # noqa: F401  (register their layers)

    folder = Path(path)
    if folder.is_file() and folder.name in (MODEL_FILE, RUN_FILE):
        folder = folder.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"Run folder {folder} does not exist. Received: path={str(path)!r}")
    run_file, model_file = folder / RUN_FILE, folder / MODEL_FILE
    for needed in (run_file, model_file):
        if not needed.is_file():
            hint = (
                " (training may be unfinished; resume it with --resume)"
                if has_checkpoint(folder)
                else ""
            )
            raise FileNotFoundError(f"{needed} is missing{hint}. Received: path={str(path)!r}")
    try:
        run = json.loads(run_file.read_text(encoding="utf-8"))
        if not isinstance(run, dict):
            raise ValueError("not a JSON object")
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{run_file} is corrupt ({e}). Received: path={str(path)!r}") from None
    try:
        model = keras.models.load_model(model_file)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, TypeError) as e:
        raise ValueError(
            f"{model_file} is corrupt or unreadable ({unknown_layer_hint(e)}). "
            f"Received: path={str(path)!r}"
        ) from None
    return model, run


def unknown_layer_hint(error: Exception) -> str:
    """Keras' error, plus what to do when it is a tfls attack layer Keras does not know yet."""
    text = f"{error}"
    if "tfls>" in text and ("Could not locate" in text or "Unknown" in text):
        text += "; the model holds tfls attack layers: `import tfls.attacks` before loading it"
    return text
