"""`strategy(name)`: the `tf.distribute` strategy training and evaluation run under.

* `"auto"`: MirroredStrategy over all GPUs when there are at least two, else the default strategy
  (one device, no replication overhead).
* `"one_device"`: OneDeviceStrategy on the first GPU, or the CPU.
* `"mirrored"`: MirroredStrategy over all GPUs, or over all logical CPUs when there is no GPU (two
  logical CPUs make a replicated test on a CPU-only machine).
* `"multi_worker"`: MultiWorkerMirroredStrategy; the cluster comes from `TF_CONFIG`. Create it at
  the very start of the program, before any other TensorFlow op (a TensorFlow requirement).

The global batch is what the dataset yields; Keras splits each batch across replicas.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from tfls._validation import check_choice

NAMES = ("auto", "one_device", "mirrored", "multi_worker")


def strategy(name: str | tf.distribute.Strategy = "auto") -> tf.distribute.Strategy:
    """Returns the strategy called `name` (an existing `tf.distribute.Strategy` passes through).

    Example:
        >>> with tfls.distribute.strategy("auto").scope():
        ...     model = tfls.models.build("cnn4", num_classes=10, input_shape=(28, 28, 1))
    """
    if isinstance(name, tf.distribute.Strategy):
        return name
    check_name(name)
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        if len(gpus) >= 2:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if gpus:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])


def check_name(name: str) -> str:
    """Validates a strategy name without creating the strategy (which may start a cluster)."""
    return check_choice(name, NAMES, name="strategy")


def is_chief(strat: tf.distribute.Strategy | None = None) -> bool:
    """True unless this process is a non-chief worker of a multi-worker cluster.

    Only the chief writes the run folder; the other workers compute the same weights. With
    `strat=None` the answer comes from `TF_CONFIG` (before the strategy exists).
    """
    if strat is not None and not isinstance(strat, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    cluster = config.get("cluster", {})
    task = config.get("task", {})
    task_type, task_id = task.get("type"), int(task.get("index", 0) or 0)
    resolver = getattr(strat, "cluster_resolver", None)
    if resolver is not None and resolver.task_type is not None:
        task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
        cluster = resolver.cluster_spec().as_dict()
    if task_type in (None, "chief"):
        return True
    # Without an explicit chief, worker 0 plays its part (TensorFlow's convention).
    return task_type == "worker" and "chief" not in cluster and task_id == 0


def worker_index(strat: tf.distribute.Strategy | None = None) -> int:
    resolver = getattr(strat, "cluster_resolver", None)
    if resolver is not None and resolver.task_id is not None:
        return int(resolver.task_id)
    return int(
        json.loads(os.environ.get("TF_CONFIG", "{}") or "{}").get("task", {}).get("index", 0)
    )
