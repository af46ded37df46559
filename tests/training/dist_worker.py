"""Subprocess entry point for the distribution tests (TF must be configured before it starts).

    python dist_worker.py mirrored OUT.npz [RUN_DIR DATA_DIR]  # one device, then Mirrored on 2 CPUs
    python dist_worker.py multi_worker OUT.npz [RUN_DIR DATA_DIR]  # a worker of a TF_CONFIG cluster
    python dist_worker.py fault_tolerant OUT.npz RUN_DIR DATA_DIR KILL_AT_STEP RESUME
        # a worker training `RUN_DIR` with a backup every batch; SIGKILLs itself after optimizer
        # step KILL_AT_STEP (0: never); RESUME=1 restarts the run (after a kill)

Trains a tiny CNN for one epoch on fixed synthetic data with `AdversarialTrainer` and saves the
final weights to OUT.npz.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

GLOBAL_BATCH = 32
EXAMPLES = 128


def tiny_data():
    rng = np.random.default_rng(0)
    x = rng.random((EXAMPLES, 8, 8, 1), dtype=np.float32)
    y = (x[:, :4].mean(axis=(1, 2, 3)) > x[:, 4:].mean(axis=(1, 2, 3))).astype(np.int32) * 3
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def train_once(strategy, method="natural"):
    import keras

    from tests.tiny_models import tiny_conv
    from tfls.training import TrainConfig, build_trainer

    config = TrainConfig(
        "mnist",
        "tiny",
        method=method,
        label_smoothing=0.1,
        optimizer="sgd",
        lr=0.05,
        momentum=0.9,
        weight_decay=5e-4,
        eps=0.1,
        attack_steps=3,
        attack_step_size=0.05,
    ).resolved()
    keras.utils.set_random_seed(0)
    with strategy.scope():
        net = tiny_conv(seed=0)
        trainer = build_trainer(
            net, config, num_classes=10, steps_per_epoch=EXAMPLES // GLOBAL_BATCH
        )
    trainer.fit(tiny_data(), epochs=1, verbose=0, shuffle=False)
    return [np.asarray(v) for v in net.weights]


def _run_config(data_dir):
    from tfls.training import TrainConfig

    return TrainConfig(
        "fashion_mnist", "cnn4", method="madry", epochs=1, limit=128, batch_size=64,
        attack_steps=2, data_dir=data_dir,
    )  # fmt: skip


FAULT_TOLERANT_STEPS = 4  # batches per epoch of `_fault_tolerant_config`


def _fault_tolerant_config(data_dir):
    from tfls.training import TrainConfig

    return TrainConfig(
        "fashion_mnist", "cnn4", method="madry", epochs=2, limit=256, batch_size=64,
        attack_steps=2, data_dir=data_dir,
    )  # fmt: skip


def _fault_tolerant(mwms, run_dir, data_dir, kill_at, resume):
    import signal

    from tfls.training import backup, train

    backup.SAVE_FREQ = 1
    kill_at = int(kill_at)
    restore, on_batch_end = backup.EpochBackup.restore, backup.EpochBackup.on_train_batch_end

    def reporting_restore(self):
        done = restore(self)
        print(f"restored epoch={self.epoch} batches={done}", flush=True)
        return done

    def killing_on_batch_end(self, batch, logs=None):
        on_batch_end(self, batch, logs)
        if kill_at and int(self.optimizer.iterations.numpy()) == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    backup.EpochBackup.restore = reporting_restore
    backup.EpochBackup.on_train_batch_end = killing_on_batch_end
    result = train(_fault_tolerant_config(data_dir), run_dir, strategy=mwms, resume=resume == "1")
    return {f"run/{i}": np.asarray(w) for i, w in enumerate(result.model.weights)}


def main(mode, out, run_dir=None, run_data_dir=None, *extra):
    import keras

    keras.config.disable_traceback_filtering()
    if mode == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
        from tfls.distribute import strategy

        single = train_once(strategy("auto"))
        mirrored_strategy = strategy("mirrored")
        assert mirrored_strategy.num_replicas_in_sync == 2, mirrored_strategy.num_replicas_in_sync
        mirrored = train_once(mirrored_strategy)
        madry = train_once(mirrored_strategy, method="madry")
        from tests.tiny_models import tiny_conv

        arrays = {f"init/{i}": np.asarray(w) for i, w in enumerate(tiny_conv(seed=0).weights)}
        arrays.update({f"single/{i}": w for i, w in enumerate(single)})
        arrays.update({f"mirrored/{i}": w for i, w in enumerate(mirrored)})
        arrays.update({f"madry/{i}": w for i, w in enumerate(madry)})
        if run_dir:
            # The whole `train` path (data, zoo model with dropout, checkpoints) on two replicas.
            from tfls.training import train

            train(_run_config(run_data_dir), run_dir, strategy=mirrored_strategy)
    elif mode == "multi_worker":
        from tfls.distribute import strategy

        mwms = strategy("multi_worker")  # first TF op of the program
        assert mwms.num_replicas_in_sync == 2, mwms.num_replicas_in_sync
        arrays = {f"worker/{i}": w for i, w in enumerate(train_once(mwms))}
        if run_dir:
            # `train` on the cluster: both workers train, only the chief writes `run_dir`.
            from tfls.training import train

            result = train(_run_config(run_data_dir), run_dir, strategy=mwms)
            arrays.update({f"run/{i}": np.asarray(w) for i, w in enumerate(result.model.weights)})
    elif mode == "fault_tolerant":
        from tfls.distribute import strategy

        mwms = strategy("multi_worker")  # first TF op of the program
        arrays = _fault_tolerant(mwms, run_dir, run_data_dir, *extra)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    np.savez(out, **arrays)


if __name__ == "__main__":
    main(*sys.argv[1:])
