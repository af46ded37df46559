"""`--batch-size auto`: evaluate a batch in chunks, halving the chunk on out-of-memory and retrying.

The dataset's batches (and so the durable per-batch store, its digests and resume) never change:
only how many of a batch's images go through the model at once does. A batch that runs out of
memory (`tf.errors.ResourceExhaustedError`) is redone from its first image with half the chunk
size; the smaller size is kept for the batches after it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from tfls import _validation as v
from tfls.eval.record_format import decode_bits, encode_bits

DEFAULT_SIZE = v.AUTO_BATCH_SIZE

__all__ = ["DEFAULT_SIZE", "AutoBatch", "fitting_batch_size", "merge_records"]


class AutoBatch:
    """Runs a per-batch function in chunks of `size` images, halving `size` on out-of-memory.

    Args:
        size: images per chunk to start with.
        minimum: the chunk size below which an out-of-memory error is raised, not retried.
        on_halve: called with `(old_size, new_size)` each time the size is halved.

    Example:
        >>> auto = AutoBatch(256)
        >>> record = auto.run(evaluate_batch, model, x, y, attacks)
    """

    def __init__(self, size: int = DEFAULT_SIZE, *, minimum: int = 1, on_halve=None):
        self.size = v.check_positive_int(size, name="size")
        self.minimum = v.check_positive_int(minimum, name="minimum")
        self.on_halve = on_halve
        self.halvings: list[tuple[int, int]] = []

    def run(self, evaluate_batch: Callable[..., dict], model, x, y, attacks, **kwargs) -> dict:
        """`evaluate_batch(model, x, y, attacks, **kwargs)` over chunks, merged into one record."""
        while True:
            try:
                records = []
                for start in range(0, len(y), self.size):
                    chunk = slice(start, start + self.size)
                    extra = dict(kwargs)
                    if start and "check_outputs" in extra:
                        extra["check_outputs"] = False  # the first chunk checked the outputs
                    records.append(evaluate_batch(model, x[chunk], y[chunk], attacks, **extra))
                return merge_records(records)
            except tf.errors.ResourceExhaustedError:
                old = min(self.size, len(y))
                if old // 2 < self.minimum:
                    raise
                self.size = old // 2
                self.halvings.append((old, self.size))
                if self.on_halve is not None:
                    self.on_halve(old, self.size)

    def wrap(self, evaluate_batch: Callable[..., dict]) -> Callable[..., dict]:
        """`evaluate_batch` with the same signature, run through `self.run`."""

        def run(model, x, y, attacks, **kwargs):
            return self.run(evaluate_batch, model, x, y, attacks, **kwargs)

        return run


def fitting_batch_size(model, info=None, *, start: int = DEFAULT_SIZE) -> int:
    """The largest of `start`, `start/2`, ... images whose forward+backward pass fits in memory.

    For clients that cannot retry a batch (the audit): one cross-entropy input gradient on zero
    images of the model's input shape, halving on `tf.errors.ResourceExhaustedError`.
    """
    shape = tuple(model.input_shape[1:])
    if None in shape and info is not None:
        shape = tuple(info.input_shape)  # `tfls.data.info(..., image_size=...)`: the resized one
    size = v.check_positive_int(start, name="start")
    while True:
        try:
            x = tf.zeros((size, *shape), tf.float32)
            with tf.GradientTape() as tape:
                tape.watch(x)
                logits = model(x, training=False)
                loss = tf.reduce_sum(tf.nn.log_softmax(logits))
            tape.gradient(loss, x)
            return size
        except tf.errors.ResourceExhaustedError:
            if size == 1:
                raise
            size //= 2


def merge_records(records: list[dict]) -> dict:
    """Concatenates the per-example bits of consecutive chunks and adds their counts and times."""
    if len(records) == 1:
        return records[0]

    def bits(values):
        return encode_bits(np.concatenate([decode_bits(b) for b in values]))

    names = list(records[0]["robust"])
    merged = {
        "clean": bits(r["clean"] for r in records),
        "robust": {k: bits(r["robust"][k] for r in records) for k in names},
    }
    for key in ("attacked", "nonfinite", "seconds"):
        merged[key] = {k: sum(r[key][k] for r in records) for k in records[0][key]}
    if "draws" in records[0]:  # a random model's draw counts (`tfls.eval.draws`), in order
        merged["draws"] = records[0]["draws"]
        merged["clean_hits"] = [h for r in records for h in r["clean_hits"]]
        merged["robust_hits"] = {
            k: [h for r in records for h in r["robust_hits"][k]] for k in names
        }
    return merged
