"""Datasets as `tf.data` pipelines of `[0, 1]` float32 NHWC images and int32 labels.

`load` reads MNIST, Fashion-MNIST, CIFAR-10 or CIFAR-100 from an offline folder (`data_dir` or
`$TFLS_DATA_DIR`), from Debian's `/usr/share/datasets/fashion-mnist`, or from TensorFlow Datasets,
in that order (see `tfls.data.sources`).
"""

from __future__ import annotations

import numpy as np

from tfls._validation import check_positive_int
from tfls.data.registry import NAMES, SPLITS, DatasetInfo, info
from tfls.data.registry import check_split as _check_split

__all__ = ["NAMES", "SPLITS", "DatasetInfo", "info", "load", "load_arrays", "make_dataset"]


def _check_limit(limit) -> int | None:
    return None if limit is None else check_positive_int(limit, name="limit")


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"`seed` must be an integer. Received: seed={seed!r}")
    return int(seed)


def _read(name: str, split: str, data_dir, limit: int | None):
    from tfls.data.sources import read_arrays

    ds_info = info(name)
    x, y, where = read_arrays(ds_info, split, data_dir)
    if limit is not None:
        if limit > len(x):
            raise ValueError(
                f"`limit` is larger than the {name} {split} split ({len(x)} examples, read from "
                f"{where}). Received: limit={limit}"
            )
        x, y = x[:limit], y[:limit]
    return x, y


def load_arrays(name: str, split: str, *, data_dir=None, limit: int | None = None):
    """Reads a whole split into numpy: `(float32 [N, H, W, C] in [0, 1], int32 [N])`.

    Same sources and checks as `load`; the first `limit` examples when `limit` is given.
    """
    info(name)
    _check_split(split)
    limit = _check_limit(limit)
    x, y = _read(name, split, data_dir, limit)
    return x.astype(np.float32) / np.float32(255.0), y


def load(
    name: str,
    split: str,
    *,
    batch_size: int,
    data_dir=None,
    shuffle: bool = False,
    augment: bool = False,
    limit: int | None = None,
    seed: int = 0,
):
    """Loads one split of a dataset as a batched, prefetched `tf.data.Dataset`.

    Args:
        name: one of `tfls.data.NAMES` (`mnist`, `fashion_mnist`, `cifar10`, `cifar100`).
        split: `"train"` or `"test"`.
        batch_size: examples per batch (the last batch may be smaller).
        data_dir: folder holding the data offline; defaults to `$TFLS_DATA_DIR`. Layouts read:
            the IDX `.gz` files (in the folder or in `fashion-mnist/`, `mnist/`),
            `cifar-10-batches-py/`, `cifar-100-python/`, an image-folder tree
            `<split>/<class>/*.jpg|png`, or a `.tar`/`.tar.gz` of any of these (unpacked once into
            `$TFLS_CACHE_DIR` or `~/.cache/tfls`; decoded images are cached there as `.npz`).
        shuffle: reshuffle the whole split every epoch. The order is fixed by `seed` (and TF's
            global seed, if one is set): the same seed gives the same sequence of epoch orders.
        augment: CIFAR only: 4-pixel zero padding, random 32x32 crop, random horizontal flip,
            different every epoch and fixed by `seed`.
        limit: keep only the first `limit` examples of the split (before shuffling). Offline
            image-folder data is ordered round-robin over classes, so a prefix is class-balanced.
        seed: integer seed of the shuffle and of the augmentation.

    Returns:
        A `tf.data.Dataset` of `(images, labels)`: float32 `[B, H, W, C]` in `[0, 1]`, int32 `[B]`.

    Raises:
        ValueError: unknown `name`/`split`, `batch_size` or `limit` not a positive integer,
            `limit` larger than the split, `augment=True` on a non-CIFAR dataset.
        FileNotFoundError: no source has the data; the message lists every place tried.

    Example:
        >>> ds = tfls.data.load("fashion_mnist", "test", batch_size=128, limit=1000)
        >>> x, y = next(iter(ds))  # x: (128, 28, 28, 1) float32, y: (128,) int32
    """
    ds_info = info(name)
    _check_split(split)
    batch_size = check_positive_int(batch_size, name="batch_size")
    limit = _check_limit(limit)
    seed = _check_seed(seed)
    if augment and not ds_info.is_cifar:
        raise ValueError(
            f"Augmentation (pad + crop + flip) is defined for CIFAR only; {name} is used without "
            f"it. Received: name={name!r}, augment={augment!r}"
        )
    x, y = _read(name, split, data_dir, limit)
    return make_dataset(x, y, batch_size=batch_size, shuffle=shuffle, augment=augment, seed=seed)


def make_dataset(
    x: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int,
    shuffle: bool = False,
    augment: bool = False,
    seed: int = 0,
):
    """Builds the `tf.data` pipeline of `load` from in-memory uint8 images and integer labels."""
    import tensorflow as tf

    from tfls.data.augment import pad_crop_flip

    n = len(x)
    images = tf.constant(x)
    labels = tf.constant(np.asarray(y, np.int32))
    # The pipeline moves indices, not images: shuffling a 50,000-index buffer is cheap, and each
    # batch is gathered, converted to float and augmented in one vectorised step.
    ds = tf.data.Dataset.range(n)
    if shuffle:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)

    def to_float(index):
        batch = tf.cast(tf.gather(images, index), tf.float32) / 255.0
        return batch, tf.gather(labels, index)

    if augment:
        # A fresh seed per batch and per epoch, from a stream that is itself fixed by `seed`.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(ds, seeds)

        def augmented(index, batch_seed):
            batch, batch_labels = to_float(index)
            return pad_crop_flip(batch, batch_seed), batch_labels

        ds = ds.map(augmented, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        ds = ds.map(to_float, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)
