"""How many float32 image batches a `tf.data` pipeline builds at once and reads ahead.

`prefetch(AUTOTUNE)` and batch-level `map(num_parallel_calls=AUTOTUNE)` let tf.data hold as many
batches as its RAM budget allows; with 224x224 images that is hundreds of MiB on top of the data
(measured by `python -m tfls.bench.data`). Large batches are therefore built one at a time and read
two ahead, which still keeps a model busy while the next one is decoded.
"""

from __future__ import annotations

import math

LARGE_BATCH_BYTES = 16 << 20  # a float32 batch above this is read two ahead, not AUTOTUNE
LARGE_BATCH_AHEAD = 2


def is_large(batch_size: int, image_shape) -> bool:
    """True when a float32 batch of `image_shape` `(h, w, c)` (None: unknown) exceeds 16 MiB."""
    if any(d is None for d in image_shape):
        return True
    return batch_size * 4 * math.prod(image_shape) > LARGE_BATCH_BYTES


def map_batches(ds, fn, *, batch_size: int, image_shape):
    """`ds.map(fn)` over batches: parallel (AUTOTUNE, order kept) for small batches, else serial."""
    import tensorflow as tf

    if is_large(batch_size, image_shape):
        return ds.map(fn)
    return ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def prefetch(ds, *, batch_size: int, image_shape):
    """`ds.prefetch(...)`: AUTOTUNE for small batches, two batches for large ones."""
    import tensorflow as tf

    large = is_large(batch_size, image_shape)
    return ds.prefetch(LARGE_BATCH_AHEAD if large else tf.data.AUTOTUNE)
