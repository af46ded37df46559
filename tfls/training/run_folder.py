"""The run folder: `model.keras`, `run.json`, `config.json`, `checkpoints/`, `logs/`.

Every file is written atomically (`tfls.io`): a crash leaves the previous complete version or
nothing. `checkpoints/` is a `tf.train.CheckpointManager` folder (`tfls.training.checkpoints`);
`backup/` exists only while a multi-worker epoch is running (`tfls.training.backup`).
"""

from __future__ import annotations

import json
from pathlib import Path

from tfls.io import LOCK_FILE, atomic_path, atomic_write_json, foreign_entries, remove_owned
from tfls.models.finished_run import (  # noqa: F401  (the format's names, and reading a run)
    BACKUP_DIR,
    CONFIG_FILE,
    LOG_DIR,
    MODEL_FILE,
    RUN_FILE,
    load_run,
)
from tfls.training.checkpoints import (  # noqa: F401  (part of the run folder's interface)
    CHECKPOINT_DIR,
    KEEP_CHECKPOINTS,
    latest_checkpoint,
    list_checkpoints,
    list_folder,
    load_checkpoint,
    save_checkpoint,
)

# Every file and folder `train` writes into a run folder, by name (fnmatch patterns relative to
# it). `--overwrite` refuses a folder holding anything else, and a failed run removes only these.
_TOP_FILES = (MODEL_FILE, RUN_FILE, CONFIG_FILE)
_CHECKPOINT_FILES = ("checkpoint", "checkpoint.tmp*", "*-*.index", "*-*.data-*", "epoch-*.npz")
OWN_FILES = (
    *_TOP_FILES,
    LOCK_FILE,  # held while a run writes (`tfls.io.FolderLock`)
    *(f".{name}.*" for name in _TOP_FILES),  # `tfls.io.atomic_path` temporaries of a killed write
    *(
        f"{folder}/{pattern}"
        for folder in (CHECKPOINT_DIR, BACKUP_DIR)
        for pattern in _CHECKPOINT_FILES
    ),
    *(f"{folder}/*_temp/*" for folder in (CHECKPOINT_DIR, BACKUP_DIR)),  # a save in flight
    f"{LOG_DIR}/*/events.out.tfevents.*",  # TensorBoard
)
OWN_FOLDERS = (
    CHECKPOINT_DIR,
    BACKUP_DIR,
    f"{CHECKPOINT_DIR}/*_temp",
    f"{BACKUP_DIR}/*_temp",
    LOG_DIR,
    f"{LOG_DIR}/train",
    f"{LOG_DIR}/validation",
)


def prepare(out: Path, *, resume: bool, overwrite: bool) -> bool:
    """Checks `out` against the flags before any work. Returns True if a run is to be resumed.

    An existing non-empty `out` is refused unless
    * `resume`: it must hold a checkpoint, an epoch's backup, or at least the `config.json` of a
      run killed before its first checkpoint (which then starts from epoch 0);
    * `overwrite`: it must hold only what `train` writes, by name, hidden files included (those
      files are deleted, never anything else);
    * or it holds only what a fresh run killed before its first checkpoint wrote (nothing
      durable, no finished model): that run simply starts again.
    """
    if resume and overwrite:
        raise ValueError(
            "Pass either resume or overwrite, not both. Received: resume=True, overwrite=True"
        )
    if out.exists() and not out.is_dir():
        raise ValueError(f"The output path exists and is not a folder. Received: out={str(out)!r}")
    existing = sorted(p.name for p in out.iterdir() if p.name != LOCK_FILE) if out.exists() else []
    if not existing:
        if resume:
            raise FileNotFoundError(
                f"Nothing to resume: {out} holds no checkpoint. Received: out={str(out)!r}"
            )
        return False
    if resume:
        # A multi-worker cluster restarted during its first epoch resumes from `backup/`, which
        # exists from that epoch's start (a chief killed before its first backup leaves it empty).
        if not (
            latest_checkpoint(out) is not None
            or (out / BACKUP_DIR).is_dir()
            or (out / CONFIG_FILE).is_file()
        ):
            raise FileNotFoundError(
                f"Nothing to resume: {out / CHECKPOINT_DIR} holds no checkpoint. "
                f"Received: out={str(out)!r}"
            )
        return True
    foreign = foreign_entries(out, OWN_FILES, OWN_FOLDERS)
    if not overwrite:
        if not foreign and not has_durable_state(out) and not (out / MODEL_FILE).exists():
            return False  # the start of a run killed before its first checkpoint: begin again
        raise FileExistsError(
            f"The output folder {out} already exists; pass --resume to continue it or --overwrite "
            f"to replace it. Received: out={str(out)!r}"
        )
    if foreign:
        shown = ", ".join(foreign[:5]) + (
            f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
        )
        raise ValueError(
            f"Refusing to overwrite {out}: it holds {shown}, which tfls train did not write; "
            f"move those elsewhere or pick another --out. Received: out={str(out)!r}"
        )
    return False


def has_durable_state(out: Path) -> bool:
    """Whether `out` holds anything a resume continues from: a checkpoint or an epoch's backup.

    (A multi-worker run killed during its first epoch has a backup but no checkpoint yet.)
    """
    return latest_checkpoint(out) is not None or bool(list_folder(Path(out) / BACKUP_DIR))


def clear(out: Path) -> None:
    """Deletes what `train` wrote into `out`, by name (`OWN_FILES`); nothing else.

    The `.lock` stays: the run holding it removes it when it ends.
    """
    remove_owned(out, [p for p in OWN_FILES if p != LOCK_FILE], OWN_FOLDERS)


# --------------------------------------------------------------------------------------------
# Finished runs


def write_config(out: Path, config_dict: dict) -> None:
    atomic_write_json(out / CONFIG_FILE, config_dict)


def read_config(out: Path) -> dict:
    path = Path(out) / CONFIG_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path} is missing: {out} is not a tfls run folder. Received: out={str(out)!r}"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is corrupt ({e}). Received: out={str(out)!r}") from None


def save_model(out: Path, network) -> None:
    with atomic_path(out / MODEL_FILE) as tmp:
        network.save(tmp)


def write_run(out: Path, run: dict) -> None:
    atomic_write_json(out / RUN_FILE, run)
