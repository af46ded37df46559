"""A run's per-epoch training checkpoints: a `tf.train.Checkpoint` under `checkpoints/`, managed
by `tf.train.CheckpointManager` (the last two kept).

`checkpoints/epoch-N.index` + `epoch-N.data-*` hold, after N finished epochs, the network's
variables (with the dropout seed-generator states), the optimizer's variables (step counter,
momenta, LR-schedule position) and a string variable `state`: JSON with the epoch, the history and
the wall time, so weights and bookkeeping are one atomic unit. `checkpoints/checkpoint` is
TensorFlow's pointer to the latest one. Old run folders with `epoch-NNNN.npz` files still resume
(`tfls.training.legacy_checkpoint`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tfls.io import remove_owned
from tfls.models.finished_run import CHECKPOINT_DIR
from tfls.training import legacy_checkpoint

KEEP_CHECKPOINTS = 2
NAME = "epoch"  # checkpoint prefixes are `checkpoints/epoch-<finished epochs>`
_STATE_KEY = "state/.ATTRIBUTES/VARIABLE_VALUE"


def list_checkpoints(out) -> list[Path]:
    """The checkpoint prefixes (`<out>/checkpoints/epoch-N`) whose files exist, oldest first.

    A run folder from before `tf.train.Checkpoint` lists its `epoch-NNNN.npz` files instead.
    Raises ValueError naming `checkpoints/checkpoint` when that pointer file is corrupt.
    """
    return list_folder(Path(out) / CHECKPOINT_DIR)


def list_folder(folder: Path) -> list[Path]:
    """`list_checkpoints` for a checkpoint folder itself."""
    # TensorFlow joins the relative prefixes it stores to the folder as given: absolute here, so
    # a relative folder (or another working directory) cannot make the checkpoints unfindable.
    folder = Path(folder).absolute()
    pointer = folder / "checkpoint"
    if not pointer.is_file():
        numbered = [
            p.with_suffix("")
            for p in folder.glob(f"{NAME}-*.index")
            if p.stem[len(NAME) + 1 :].isdigit()
        ]
        if numbered:
            return sorted(numbered, key=lambda p: int(p.name[len(NAME) + 1 :]))
        return legacy_checkpoint.list_files(folder)
    import tensorflow as tf

    try:
        found = tf.train.get_checkpoint_state(str(folder))
    except Exception as e:  # noqa: BLE001  (a text-proto parse error has no public type)
        raise ValueError(
            f"Checkpoint pointer {pointer} is corrupt ({_first_line(e)}); delete it to resume "
            f"from the newest {NAME}-N checkpoint, or start again with --overwrite. "
            f"Received: checkpoint={str(pointer)!r}"
        ) from None
    paths = [] if found is None else list(found.all_model_checkpoint_paths)
    prefixes = [Path(p) if Path(p).is_absolute() else folder / p for p in paths]
    return [p for p in prefixes if p.with_name(p.name + ".index").is_file()]


def latest_checkpoint(out) -> Path | None:
    found = list_checkpoints(out)
    return found[-1] if found else None


def save_checkpoint(out, epoch: int, network, optimizer, state: dict) -> Path:
    """Writes `<out>/checkpoints/epoch-<epoch>` and keeps the last `KEEP_CHECKPOINTS`.

    Returns the checkpoint's prefix path.
    """
    folder = Path(out) / CHECKPOINT_DIR
    path = write(folder, epoch, network, optimizer, {**state, "epoch": int(epoch)})
    # A resumed legacy run has now moved to the new format; its `.npz` files are superseded.
    for old in legacy_checkpoint.list_files(folder):
        old.unlink(missing_ok=True)
    return path


def write(folder: Path, number: int, network, optimizer, state: dict, *, name=NAME) -> Path:
    """Writes checkpoint `<folder>/<name>-<number>` holding the variables and `state` (JSON).

    An interruption mid-write leaves the previous checkpoint the latest: `CheckpointManager.save`
    writes a new prefix (shards to `epoch-N_temp/`, merged and renamed into `epoch-N.*`), and only
    once that write has returned does it point `checkpoints/checkpoint` at it, via TensorFlow's
    `atomic_write_string_to_file` (temp file + rename); older checkpoints are deleted after that.
    The state JSON lives inside the checkpoint, so it can't disagree with the weights. That is
    enough against a killed process; against power loss TensorFlow does not fsync (neither does
    `tfls.io` for folders), and a resume then refuses the damaged checkpoint by name.
    """
    import tensorflow as tf

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    payload = tf.Variable(json.dumps(state), dtype=tf.string, trainable=False)
    checkpoint = tf.train.Checkpoint(
        network=list(network.variables), optimizer=list(optimizer.variables), state=payload
    )
    manager = tf.train.CheckpointManager(
        checkpoint, str(folder), max_to_keep=KEEP_CHECKPOINTS, checkpoint_name=name
    )
    try:
        return Path(manager.save(checkpoint_number=int(number)))
    except tf.errors.OpError as e:
        # A full disk, a read-only folder, a lost permission: TensorFlow's errors carry no errno.
        # The shards it had written for this save go (its own folder, by name); the rest stays.
        temp = f"{name}-{int(number)}_temp"
        remove_owned(folder, [f"{temp}/*"], [temp])
        raise write_error(folder / f"{name}-{number}", e) from None


def write_error(path: Path, error: BaseException) -> OSError:
    """An `OSError` naming the checkpoint that could not be written, and that the last one stands."""
    import errno

    text = _first_line(error)
    code = next(
        (
            number
            for marker, number in (
                ("No space left", errno.ENOSPC),
                ("Read-only file system", errno.EROFS),
                ("Permission denied", errno.EACCES),
                ("Disk quota", errno.EDQUOT),
            )
            if marker in text
        ),
        errno.EIO,
    )
    reason = os.strerror(code) if code != errno.EIO else text
    return OSError(
        code,
        f"Could not write checkpoint {str(path)!r} ({reason}); the previous checkpoint, if any, "
        "is still the latest",
    )


def read_state(path) -> dict:
    """The JSON state of checkpoint `path` (ValueError naming it when unreadable)."""
    import tensorflow as tf

    try:
        state = json.loads(tf.train.load_variable(str(path), _STATE_KEY).decode())
        if not isinstance(state, dict):
            raise ValueError("its state is not a JSON object")
    except (tf.errors.OpError, ValueError, IndexError, UnicodeDecodeError) as e:
        raise _corrupt(Path(path), e) from None
    return state


def load_checkpoint(path, network, optimizer) -> dict:
    """Restores `network` and `optimizer` from the checkpoint `path`; returns its state dict.

    Raises ValueError naming the checkpoint when it is unreadable or does not match the model
    (a mismatch is found before any variable changes); no checkpoint is deleted.
    """
    path = Path(path)
    if path.suffix == ".npz":
        return legacy_checkpoint.load(path, network, optimizer)
    import tensorflow as tf

    try:
        saved = dict(tf.train.list_variables(str(path)))
    except (tf.errors.OpError, ValueError, IndexError) as e:
        raise _corrupt(path, e) from None
    state = read_state(path)
    _check(path, "network", network.variables, saved)
    _check(path, "optimizer", optimizer.variables, saved)
    checkpoint = tf.train.Checkpoint(
        network=list(network.variables), optimizer=list(optimizer.variables)
    )
    try:
        # `state` is read above, `save_counter` is the manager's: both are expected leftovers.
        checkpoint.restore(str(path)).expect_partial().assert_existing_objects_matched()
    except (tf.errors.OpError, AssertionError, ValueError, IndexError) as e:
        raise _corrupt(path, e) from None
    return state


def _check(path, prefix, variables, saved):
    held = sum(1 for key in saved if key.startswith(prefix + "/"))
    if held != len(variables):
        raise ValueError(
            f"Checkpoint {path} does not match the {prefix}: it holds {held} variables, the "
            f"{prefix} has {len(variables)}. Received: checkpoint={str(path)!r}"
        )
    for i, var in enumerate(variables):
        shape = saved.get(f"{prefix}/{i}/.ATTRIBUTES/VARIABLE_VALUE")
        if shape is None or tuple(shape) != tuple(var.shape):
            raise ValueError(
                f"Checkpoint {path} does not match the {prefix}: {var.path} has shape "
                f"{tuple(var.shape)}, the checkpoint {None if shape is None else tuple(shape)}. "
                f"Received: checkpoint={str(path)!r}"
            )


def _corrupt(path: Path, error: BaseException) -> ValueError:
    # Not falling back silently: the write order above means a damaged *latest* checkpoint is not
    # an interrupted save but lost or altered data, which the user should know about.
    return ValueError(
        f"Checkpoint {path} is corrupt or unreadable ({_first_line(error)}). The other "
        f"checkpoints are kept: delete {path.name}.* to resume from the previous one, or start "
        f"again with --overwrite. Received: checkpoint={str(path)!r}"
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
