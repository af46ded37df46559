"""`train(config, out)`: data → model → `AdversarialTrainer.fit`, epoch by epoch, into a run folder.

Each epoch is one `fit` call on a freshly seeded data pipeline (`seed`, epoch) and ends with an
atomic checkpoint, so a resumed run sees exactly the batches, random starts and learning rates the
uninterrupted run would have seen. Under `multi_worker` a mid-epoch backup (`backup.EpochBackup`)
lets a restarted cluster continue the epoch in flight the same way.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from tfls import Interrupted, distribute, exits, provenance
from tfls.analysis import accuracy_and_logit_stats
from tfls.io import FolderLock, first_missing, remove_created, resolve_out
from tfls.training import backup
from tfls.training import run_folder as rf
from tfls.training.config import TrainConfig
from tfls.training.trainer import build_trainer

EVAL_BATCH_SIZE = 256


@dataclasses.dataclass
class RunResult:
    """What `train` returns: the run folder, the trained network and the `run.json` contents."""

    out: Path
    model: Any
    run: dict
    history: list[dict]


class _SafePoints(keras.callbacks.Callback):
    """Honours a stop request (`tfls.exits`) after each batch, between TensorFlow's calls."""

    def on_train_batch_end(self, batch, logs=None):
        exits.check_stop()


class _RunProgbar(keras.callbacks.ProgbarLogger):
    """Keras' progress bar, headed "Epoch 3/6" although `fit` runs one epoch per call (each epoch
    gets its own seeded data order and an atomic checkpoint)."""

    def __init__(self, total_epochs: int):
        super().__init__()
        self._total_epochs = total_epochs

    def set_params(self, params):
        super().set_params({**params, "epochs": self._total_epochs})


def train(
    config: TrainConfig | None,
    out,
    *,
    resume: bool = False,
    overwrite: bool = False,
    strategy="auto",
    on_epoch: Callable[[int, dict], None] | None = None,
    verbose=0,
    deterministic: bool = True,
) -> RunResult:
    """Trains `config.model` on `config.dataset` with `config.method`; writes the run folder `out`.

    Args:
        config: a `TrainConfig` (unset fields take the papers' defaults). May be None with
            `resume=True`: the run folder's `config.json` is used.
        out: the run folder. An existing non-empty one is refused unless `resume` or `overwrite`.
        resume: continue from the last checkpoint (weights, optimizer state, epoch, history);
            under `multi_worker`, from the epoch in flight's backup when there is one (restart
            every worker of the cluster with it).
        overwrite: delete an existing run folder first.
        strategy: a `tfls.distribute.strategy` name or a `tf.distribute.Strategy`.
        on_epoch: called as `on_epoch(epoch, logs)` after each epoch's checkpoint is written;
            `epoch` counts finished epochs (1-based), `logs` holds `loss`, `accuracy`, `epochs`,
            `wall_time_s`.
        verbose: Keras `fit` verbosity (1 = progress bar).
        deterministic: run TensorFlow's ops deterministically
            (`tf.config.experimental.enable_op_determinism`), so the same seed on the same machine
            and TensorFlow version reproduces the weights bit for bit. It is process-wide and
            cannot be switched off again in that process; False only leaves it as it is.

    Returns:
        A `RunResult`; `out` then holds `model.keras`, `run.json`, `config.json`,
        `checkpoints/` and `logs/`.

    Example:
        >>> config = TrainConfig("fashion_mnist", "cnn4", label_smoothing=0.9, epochs=1)
        >>> result = train(config, "runs/ls09")
        >>> result.run["clean_accuracy"]
    """
    from tfls import data as tfls_data
    from tfls import models as tfls_models

    out = resolve_out(out)
    if config is not None:
        if not isinstance(config, TrainConfig):
            raise ValueError(f"`config` must be a TrainConfig. Received: config={config!r}")
        config.resolved()
    if isinstance(strategy, tf.distribute.Strategy):
        chief = distribute.is_chief(strategy)
    else:
        distribute.check_name(strategy)
        chief = strategy != "multi_worker" or distribute.is_chief(None)
    # Non-chief workers write nothing into `out` (the chief may be creating it right now).
    if chief:
        resuming = rf.prepare(out, resume=resume, overwrite=overwrite)
    else:
        resuming = resume
    config = _resume_config(config, out) if resuming else config
    if config is None:
        raise ValueError("`config` is required unless resuming a run. Received: config=None")
    config = config.resolved()

    # Everything that can fail on bad input happens before the folder is touched.
    info = tfls_data.info(config.dataset)
    strat = distribute.strategy(strategy)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    # Before any dataset or weight exists, so a resumed run derives the same random streams.
    keras.utils.set_random_seed(config.seed)

    def load(split, epoch=0, *, batch_size=config.batch_size, shuffle=True):
        # `limit` caps the test split too (quick runs), at most at its standard size.
        limit = config.limit
        size = dict(info.split_sizes).get(split)
        if limit is not None and split == "test" and size:
            limit = min(limit, size)
        ds = tfls_data.load(
            config.dataset,
            split,
            batch_size=batch_size,
            data_dir=config.data_dir,
            shuffle=shuffle,
            augment=config.augment and split == "train",
            limit=limit,
            seed=config.seed * 10_007 + epoch,
        )
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        return ds.with_options(options)

    first = load("train", 0)
    steps_per_epoch = _count_batches(first)
    with strat.scope():
        network = tfls_models.build(
            config.model,
            num_classes=info.num_classes,
            input_shape=tuple(info.input_shape),
            seed=config.seed,
        )
        trainer = build_trainer(
            network, config, num_classes=info.num_classes, steps_per_epoch=steps_per_epoch
        )

    created = first_missing(out)  # what this run creates (and may remove again), if anything
    lock = FolderLock(out, busy="Another tfls train is writing to")
    if chief:
        out.mkdir(parents=True, exist_ok=True)
        try:
            lock.acquire()
            # Again, now that no other process can write here: it may have, since the first look.
            rf.prepare(out, resume=resume, overwrite=overwrite)
        except BaseException:
            lock.release(remove=lock.created)
            remove_created(out, created)
            raise
    scratch = (
        None
        if chief
        else Path(tempfile.mkdtemp(prefix=f"tfls-worker{distribute.worker_index(strat)}-"))
    )
    write_dir = out if chief else scratch
    try:
        return _run(
            config,
            out,
            write_dir,
            chief,
            resuming,
            overwrite,
            strat,
            trainer,
            network,
            info,
            load,
            first,
            steps_per_epoch,
            on_epoch,
            verbose,
            deterministic,
        )
    except BaseException as e:
        durable = rf.has_durable_state(out)
        if chief and not durable:
            # A run that failed before its first checkpoint takes back what it wrote, by name,
            # (and the folders it created, if they are then empty); never anything else.
            rf.clear(out)
        if isinstance(e, KeyboardInterrupt):
            raise Interrupted(_interrupted_message(out, durable)) from None
        raise
    finally:
        lock.release(remove=True)
        if chief:
            remove_created(out, created)  # only if the run left it empty
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _run(
    config,
    out,
    write_dir,
    chief,
    resuming,
    overwrite,
    strat,
    trainer,
    network,
    info,
    load,
    first,
    steps_per_epoch,
    on_epoch,
    verbose,
    deterministic,
) -> RunResult:
    history: list[dict] = []
    elapsed = 0.0
    start_epoch = 0
    latest = rf.latest_checkpoint(out) if resuming else None
    if latest is not None:
        with strat.scope():
            state = rf.load_checkpoint(latest, network, trainer.optimizer)
        start_epoch, history, elapsed = (
            int(state["epoch"]),
            list(state["history"]),
            float(state["wall_time_s"]),
        )
        # A run is deterministic only if every epoch was (older checkpoints do not say: not).
        deterministic = deterministic and bool(state.get("deterministic", False))
    elif chief:
        if overwrite or not rf.has_durable_state(out):
            rf.clear(out)  # the replaced run, or what a run killed before its first checkpoint left
        out.mkdir(parents=True, exist_ok=True)
        rf.write_config(out, config.to_dict())

    tensorboard = keras.callbacks.TensorBoard(
        log_dir=str(write_dir / rf.LOG_DIR), write_graph=False, profile_batch=0, update_freq="epoch"
    )
    progbar = _RunProgbar(config.epochs)
    multi_worker = isinstance(strat, tf.distribute.MultiWorkerMirroredStrategy)
    # A stop (Ctrl-C, SIGTERM) takes effect between batches: never inside TensorFlow's calls,
    # and a partial epoch is never checkpointed.
    with exits.stop_at_safe_points():
        for epoch in range(start_epoch, config.epochs):
            ds = first if epoch == 0 else load("train", epoch)
            callbacks = [tensorboard, progbar, _SafePoints()]
            epoch_backup = None
            if multi_worker:
                # Fault tolerance: a restarted cluster resumes this epoch from `backup/` at the batch
                # where it stopped (every worker restores the chief's backup, like the checkpoints).
                epoch_backup = backup.EpochBackup(
                    out / rf.BACKUP_DIR,
                    network=network,
                    optimizer=trainer.optimizer,
                    epoch=epoch,
                    steps_per_epoch=steps_per_epoch,
                    writer=chief,
                    save_freq=backup.SAVE_FREQ,
                )
                with strat.scope():
                    done = epoch_backup.restore()
                if done:
                    # The pipeline is seeded per epoch, so skipping gives exactly the batches left.
                    ds = ds.skip(done)
                callbacks.append(epoch_backup)
            t0 = time.perf_counter()
            fit = trainer.fit(
                ds,
                initial_epoch=epoch,
                epochs=epoch + 1,
                callbacks=callbacks,
                verbose=verbose,
                shuffle=False,
            )
            elapsed += time.perf_counter() - t0
            logs = {k: float(v[-1]) for k, v in fit.history.items()}
            history.append({"epoch": epoch + 1, **logs})
            if chief:
                rf.save_checkpoint(
                    out,
                    epoch + 1,
                    network,
                    trainer.optimizer,
                    {"history": history, "wall_time_s": elapsed, "deterministic": deterministic},
                )
            if epoch_backup is not None:
                epoch_backup.discard()
            if on_epoch is not None:
                on_epoch(epoch + 1, {**logs, "epochs": config.epochs, "wall_time_s": elapsed})
        exits.check_stop()

    test = load("test", shuffle=False, batch_size=EVAL_BATCH_SIZE)
    clean_accuracy, stats = accuracy_and_logit_stats(network, test)
    run = {
        "dataset": config.dataset,
        "model": config.model,
        "method": config.method,
        "label_smoothing": config.label_smoothing,
        "eps": config.eps,  # the inner attack's ε; for natural runs, the family's usual ε
        "epochs": config.epochs,
        "seed": config.seed,
        "deterministic": bool(deterministic),
        "batch_size": config.batch_size,
        "num_classes": int(info.num_classes),
        "input_shape": list(info.input_shape),
        "clean_accuracy": clean_accuracy,
        "logit_stats": stats,
        "versions": provenance.versions(),
        "host": provenance.host(),
        "wall_time_s": elapsed,
        "created": provenance.now(),
        "steps_per_epoch": steps_per_epoch,
        "num_replicas": int(strat.num_replicas_in_sync),
        "history": history,
        "config": config.to_dict(),
    }
    if chief:
        rf.save_model(out, network)
        rf.write_run(out, run)  # last: a run.json means the run is complete
    return RunResult(out=out, model=network, run=run, history=history)


def _interrupted_message(out: Path, durable: bool) -> str:
    latest = rf.latest_checkpoint(out)
    if latest is not None:
        return (
            f"{latest.name} is the last checkpoint in {out}; continue with `tfls train --out "
            f"{out} --resume`"
        )
    if durable:
        return f"the epoch in flight is backed up in {out / rf.BACKUP_DIR}; continue with --resume"
    return f"no epoch had finished, so nothing was kept in {out}"


def _resume_config(config, out: Path) -> TrainConfig:
    saved = TrainConfig.from_dict(rf.read_config(out))
    if config is None:
        return saved
    if not isinstance(config, TrainConfig):
        raise ValueError(f"`config` must be a TrainConfig. Received: config={config!r}")
    mine, theirs = config.resolved().to_dict(), saved.resolved().to_dict()
    differ = sorted(k for k in mine if k != "data_dir" and mine[k] != theirs[k])
    if differ:
        detail = ", ".join(f"{k}={mine[k]!r} (saved {theirs[k]!r})" for k in differ)
        raise ValueError(f"Cannot resume {out} with a different configuration. Received: {detail}")
    return saved.replace(data_dir=config.data_dir)


def _count_batches(ds) -> int:
    n = int(ds.cardinality())
    if n < 0:  # unknown or infinite: count once
        n = sum(1 for _ in ds)
    if n <= 0 or not math.isfinite(n):
        raise ValueError("The training dataset is empty. Received: 0 batches")
    return n
