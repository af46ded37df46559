"""Evaluation on a multi-worker cluster: which process writes, and the points all workers agree on.

Under `MultiWorkerMirroredStrategy` every worker runs the same evaluation: each global batch is
split over all workers' replicas and the outputs are gathered back to every worker, so every worker
holds the same per-example outcomes. Only the chief writes the store and the report; the other
workers read the chief's store (read-only) to resume from the same batch, which needs the store's
folder on a filesystem that every worker sees (as on a Slurm cluster). `agree` turns a worker that
sees another store into one clear error instead of a hang in mismatched collectives.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfls import distribute


def is_multi_worker(strategy) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def writes(strategy) -> bool:
    """True unless this process is a non-chief worker of a multi-worker cluster."""
    return not is_multi_worker(strategy) or distribute.is_chief(strategy)


def gathered(strategy, value) -> np.ndarray:
    """A per-replica result of `strategy.run` as one array in replica order, on every worker."""
    if is_multi_worker(strategy):
        return np.asarray(strategy.gather(value, axis=0))
    return np.concatenate(
        [np.asarray(part) for part in strategy.experimental_local_results(value)], axis=0
    )


def each_worker(strategy, number: int) -> list[int]:
    """`number` as every replica of the cluster holds it (a collective: every worker calls it)."""
    per_replica = strategy.run(lambda: tf.constant([int(number)], tf.int64))
    return [int(v) for v in gathered(strategy, per_replica)]


def barrier(strategy) -> None:
    """Returns once every worker has reached it (no-op off a multi-worker cluster)."""
    if is_multi_worker(strategy):
        each_worker(strategy, 0)


def agree(strategy, number: int, *, what: str, out) -> int:
    """Checks that every worker holds the same `number` (e.g. the stored batches) and returns it."""
    if not is_multi_worker(strategy):
        return number
    seen = each_worker(strategy, number)
    if len(set(seen)) > 1:
        raise ValueError(
            f"The workers disagree on the {what} in {str(out)!r}: {seen} (one value a replica, "
            "the chief's first). Every worker reads the chief's store, so its folder must be on "
            f"a filesystem all workers share. Received: out={str(out)!r}"
        )
    return number
