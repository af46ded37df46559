"""Mid-epoch backups for multi-worker training: `keras.callbacks.BackupAndRestore` under
`<run>/backup/`, so a cluster restarted after a worker died resumes the epoch at the batch where
it stopped and ends with the weights an uninterrupted run would have.

TensorFlow's fault tolerance for `MultiWorkerMirroredStrategy` is "restart and restore": when a
worker dies, the others block in (or fail out of) the next collective op, so the whole cluster is
restarted with the same `TF_CONFIG` and every worker restores the same state before its first
step. Per-epoch state comes from `checkpoints/`; this callback covers the epoch in flight.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import keras

from tfls.training import checkpoints

# A backup every this many batches: each costs one checkpoint write of network and optimizer.
SAVE_FREQ = 50


class EpochBackup(keras.callbacks.BackupAndRestore):
    """Backs up one epoch's progress every `save_freq` batches; `restore()` resumes it.

    Keras 3.15's `BackupAndRestore` keeps the scheduling (`save_freq` counted in batches), but its
    storage is replaced, because for this trainer (one `fit` per epoch on a freshly seeded
    pipeline) it would not give an exact resume:
    * `model.save_weights` leaves out `SeedGenerator` states (dropout masks would change);
    * the weights and `training_metadata.json` are overwritten in place, one after the other, so
      a kill mid-save leaves a torn or mismatched pair;
    * on restore it only sets the epoch; the batches already done would be trained again;
    * every worker writes the same files (a race on a shared disk).
    Here the chief alone writes, a `tf.train.Checkpoint` (atomic pointer, see
    `tfls.training.checkpoints.save_checkpoint`) numbered by the optimizer step, whose state
    records the epoch; every worker restores it and skips the batches it has done.

    Args:
        backup_dir: the run's `backup/` folder (on storage every worker can read).
        network, optimizer: what to back up (the same objects the checkpoints hold).
        epoch: the 0-based epoch this `fit` call trains.
        steps_per_epoch: batches in a full epoch.
        writer: True on the chief; other workers only restore.
        save_freq: back up every this many batches.
    """

    def __init__(
        self,
        backup_dir,
        *,
        network,
        optimizer,
        epoch: int,
        steps_per_epoch: int,
        writer: bool,
        save_freq: int = SAVE_FREQ,
    ):
        super().__init__(str(backup_dir), save_freq=int(save_freq), delete_checkpoint=False)
        self.backup_path = Path(backup_dir)
        self.network = network
        self.optimizer = optimizer
        self.epoch = int(epoch)
        self.steps_per_epoch = int(steps_per_epoch)
        self.writer = bool(writer)

    def restore(self) -> int:
        """Restores this epoch's backup, if there is one; returns the batches it had done.

        A backup of another epoch (left by a kill between an epoch's checkpoint and the backup's
        removal) is ignored: the checkpoint already holds that state.
        """
        found = checkpoints.list_folder(self.backup_path)
        latest = found[-1] if found else None
        if latest is None:
            return 0
        state = checkpoints.read_state(latest)
        if state.get("epoch_in_progress") != self.epoch:
            return 0
        checkpoints.load_checkpoint(latest, self.network, self.optimizer)
        done = int(self.optimizer.iterations.numpy()) - self.epoch * self.steps_per_epoch
        if not 0 < done < self.steps_per_epoch:
            raise ValueError(
                f"Backup {latest} does not belong to epoch {self.epoch + 1} (it is at step "
                f"{int(self.optimizer.iterations.numpy())}); delete {self.backup_path} to redo "
                f"the epoch from the last checkpoint. Received: backup={str(latest)!r}"
            )
        return done

    def on_train_begin(self, logs=None):
        # `restore()` ran before the data pipeline was built (it decides how much to skip).
        pass

    def on_train_end(self, logs=None):
        # Removed by `discard()` only after the epoch's checkpoint exists.
        pass

    def _save_model(self):
        if not self.writer:
            return
        step = int(self.optimizer.iterations.numpy())
        done = step - self.epoch * self.steps_per_epoch
        if not 0 < done < self.steps_per_epoch:
            return  # the epoch's end: its checkpoint follows
        checkpoints.write(
            self.backup_path,
            step,
            self.network,
            self.optimizer,
            {"epoch_in_progress": self.epoch, "batches": done},
            name="step",
        )

    def discard(self) -> None:
        """Deletes the backup (call after the epoch's checkpoint is written)."""
        if self.writer:
            shutil.rmtree(self.backup_path, ignore_errors=True)
