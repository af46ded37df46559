"""Datasets as `tf.data` pipelines of `[0, 1]` float32 NHWC images and int32 labels.

A dataset is named by a *spec* (`tfls.data.parse_spec`):
- `mnist`, `fashion_mnist`, `cifar10`, `cifar100`: read from an offline folder (`data_dir` or
  `$TFLS_DATA_DIR`), from Debian's `/usr/share/datasets/fashion-mnist`, or from TensorFlow
  Datasets, in that order (see `tfls.data.sources`); splits `train` and `test`, slices allowed
  (`test[5000:5300]`).
- `tfds:NAME[:config]`: any TFDS image-classification dataset (one `Image` and one `ClassLabel`
  feature), prepared in `data_dir` or TFDS's default folder, else downloaded when allowed; splits
  are TFDS's own, slices included (`test[:1000]`, `validation[10%:]`). Streamed from its files.
- a path to an image-folder tree `ROOT/<split>/<class>/*.png|jpg|jpeg|bmp|gif` or a
  `.tar`/`.tar.gz`/`.tgz` of one (`tfls.data.folder_source`): any split name, slices allowed;
  classes are the sorted folder names; streamed from the files.
- a path to a `.npz` (`x`, `y`, optional `class_names`) or an `.npy` pair
  (`tfls.data.array_source`): one split, called `test` (`test[:100]` slices it).

`image_size=(h, w)` centre-crops each image to that aspect ratio and resizes it (bilinear,
antialiased; `tfls.data.resize`); without it, a split whose images differ in size is refused.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tfls._validation import check_positive_int
from tfls.data import registry
from tfls.data.registry import NAMES, SPLITS, DatasetInfo
from tfls.data.registry import check_split as _check_split
from tfls.data.resize import check_image_size
from tfls.data.spec import DatasetSpec, parse_spec, parse_split, slice_bounds

__all__ = [
    "NAMES",
    "SPLITS",
    "DatasetInfo",
    "DatasetSpec",
    "info",
    "load",
    "load_arrays",
    "make_dataset",
    "parse_spec",
]


def _check_limit(limit) -> int | None:
    return None if limit is None else check_positive_int(limit, name="limit")


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"`seed` must be an integer. Received: seed={seed!r}")
    return int(seed)


def _data_dir(data_dir):
    from tfls.data.sources import resolve_data_dir

    return resolve_data_dir(data_dir)


def info(spec, *, data_dir=None, image_size=None) -> DatasetInfo:
    """Returns the `DatasetInfo` of a dataset spec, reading metadata only (no image is decoded).

    Args:
        spec: a dataset spec (see the module docstring), e.g. `"cifar10"`, `"tfds:svhn_cropped"`,
            `"~/data/flowers"`, `"x.npz"`.
        data_dir: for `tfds:` specs, a TFDS `data_dir` holding prepared data.
        image_size: `(height, width)` the images will be resized to; it replaces the native size
            in `input_shape`.

    Returns:
        `DatasetInfo` with `name` (the normalised spec: a built-in name, `tfds:NAME[:config]` or
        an absolute path), `num_classes`, `input_shape` `(h, w, c)` (`(None, None, c)` when the
        native sizes vary and no `image_size` is given), `class_names` and, where cheap,
        `split_sizes`. An image folder's shape comes from the first image of each class of one
        split (`test`, `val`, `validation` or the first), so `load` may still refuse mixed sizes.

    Example:
        >>> tfls.data.info("cifar10").input_shape
        (32, 32, 3)
    """
    parsed = parse_spec(spec)
    image_size = check_image_size(image_size)
    if parsed.kind == "builtin":
        found = registry.info(parsed.name)
    elif parsed.kind == "tfds":
        from tfls.data import tfds_source

        builder = tfds_source.classification_builder(
            parsed.name, parsed.tfds_name, _data_dir(data_dir), prepare=False
        )
        _, _, shape, names = tfds_source.image_feature(builder, parsed.name)
        sizes = tuple((k, int(v.num_examples)) for k, v in builder.info.splits.items())
        found = DatasetInfo(parsed.name, len(names), shape, names, sizes)
    elif parsed.kind in ("folder", "archive"):
        from tfls.data import folder_source

        root = folder_source.find_root(parsed.kind, parsed.path)
        names, shape = folder_source.read_info(root)
        found = DatasetInfo(parsed.name, len(names), shape, names, folder_source.split_sizes(root))
    else:
        from tfls.data import array_source

        num_classes, shape, names, n = array_source.read_info(parsed.path)
        found = DatasetInfo(parsed.name, num_classes, shape, names, ((array_source.SPLIT, n),))
    if image_size is not None:
        found = dataclasses.replace(found, input_shape=(*image_size, found.input_shape[2]))
    return found


def _read(name: str, split: str, data_dir, limit: int | None):
    from tfls.data.sources import read_arrays

    base, part = parse_split(split)
    _check_split(base)
    ds_info = registry.info(name)
    x, y, where = read_arrays(ds_info, base, data_dir)
    keep = slice_bounds(part, len(x))
    if len(keep) != len(x):
        x, y = x[keep.start : keep.stop], y[keep.start : keep.stop]
    if limit is not None:
        if limit > len(x):
            raise ValueError(
                f"`limit` is larger than the {name} {split} split ({len(x)} examples, read from "
                f"{where}). Received: limit={limit}"
            )
        x, y = x[:limit], y[:limit]
    return x, y


def load_arrays(spec, split: str, *, data_dir=None, limit: int | None = None, image_size=None):
    """Reads a whole split into numpy: `(float32 [N, H, W, C] in [0, 1], int32 [N])`.

    Same specs, sources and checks as `load`; the first `limit` examples when `limit` is given.
    """
    parsed = parse_spec(spec)
    limit = _check_limit(limit)
    image_size = check_image_size(image_size)
    if parsed.kind == "builtin" and image_size is None:
        x, y = _read(parsed.name, split, data_dir, limit)
        return x.astype(np.float32) / np.float32(255.0), y
    if parsed.kind == "arrays" and image_size is None:
        x, y = _array_split(parsed, split, limit)
        x = x.astype(np.float32) / np.float32(255.0) if x.dtype == np.uint8 else x
        return np.asarray(x, np.float32), y
    ds = load(parsed, split, batch_size=256, data_dir=data_dir, limit=limit, image_size=image_size)
    from tfls.data.reading import elements

    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in elements(ds)], strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def _array_split(parsed: DatasetSpec, split: str, limit: int | None):
    from tfls.data import array_source

    x, y, _ = array_source.read_split(parsed.path, split)
    return _limited(x, y, limit, f"{parsed.name} {split}")


def _limited(x, y, limit: int | None, what: str):
    if limit is not None:
        if limit > len(y):
            raise ValueError(
                f"`limit` is larger than the split {what} ({len(y)} examples). "
                f"Received: limit={limit}"
            )
        x, y = x[:limit], y[:limit]
    return x, y


def load(
    spec,
    split: str,
    *,
    batch_size: int,
    data_dir=None,
    shuffle: bool = False,
    augment: bool = False,
    limit: int | None = None,
    seed: int = 0,
    image_size=None,
):
    """Loads one split of a dataset as a batched, prefetched `tf.data.Dataset`.

    Args:
        spec: a dataset spec (see the module docstring): one of `tfls.data.NAMES` (`mnist`,
            `fashion_mnist`, `cifar10`, `cifar100`), `tfds:NAME[:config]`, the path of an
            image-folder tree or archive, of a `.npz`, or of an `.npy` pair.
        split: for the built-in names `"train"` or `"test"`, with an optional slice
            (`"test[5000:5300]"`); for `tfds:` specs TFDS's split
            syntax (`"test[:1000]"`); for folders any split folder, with an optional slice
            (`"val[:500]"`, `"test[10%:]"`); for array files `"test"` (optionally sliced).
        batch_size: examples per batch (the last batch may be smaller).
        data_dir: folder holding the data offline; defaults to `$TFLS_DATA_DIR`. For the built-in
            names the layouts read are the IDX `.gz` files (in the folder or in `fashion-mnist/`,
            `mnist/`), `cifar-10-batches-py/`, `cifar-100-python/`, an image-folder tree
            `<split>/<class>/*.jpg|png`, or a `.tar`/`.tar.gz` of any of these (unpacked once into
            `$TFLS_CACHE_DIR` or `~/.cache/tfls`; decoded images are cached there as `.npz`).
            For `tfds:` specs, a TFDS `data_dir` (TFDS's default folder is tried next).
        shuffle: reshuffle the split every epoch. The order is fixed by `seed` (and TF's global
            seed, if one is set): the same seed gives the same sequence of epoch orders. Whole
            split shuffles, except `tfds:` specs: a window of 1024 examples, as they stream.
        augment: CIFAR only: 4-pixel zero padding, random 32x32 crop, random horizontal flip,
            different every epoch and fixed by `seed`.
        limit: keep only the first `limit` examples of the split (before shuffling). Image
            folders are ordered round-robin over classes, so a prefix is class-balanced.
        seed: integer seed of the shuffle and of the augmentation.
        image_size: `None` (native size) or `(height, width)`: each image is centre-cropped to
            that aspect ratio and resized (bilinear, antialiased), as Keras's
            `crop_to_aspect_ratio` does.

    Returns:
        A `tf.data.Dataset` of `(images, labels)`: float32 `[B, H, W, C]` in `[0, 1]`, int32 `[B]`.

    Raises:
        ValueError: a spec that names nothing, an unknown `split`, `batch_size` or `limit` not a
            positive integer, `limit` larger than the split, `augment=True` on a non-CIFAR
            dataset, images of different sizes without `image_size`, bad array files, a TFDS
            dataset that is not image classification (each in one line naming the value).
        FileNotFoundError: no source has the data; the message lists every place tried.

    Example:
        >>> ds = tfls.data.load("fashion_mnist", "test", batch_size=128, limit=1000)
        >>> x, y = next(iter(ds))  # x: (128, 28, 28, 1) float32, y: (128,) int32
        >>> ds = tfls.data.load("tfds:svhn_cropped", "test[:1000]", batch_size=100)
    """
    parsed = parse_spec(spec)
    batch_size = check_positive_int(batch_size, name="batch_size")
    limit = _check_limit(limit)
    seed = _check_seed(seed)
    image_size = check_image_size(image_size)
    is_cifar = parsed.kind == "builtin" and registry.info(parsed.name).is_cifar
    if augment and not is_cifar:
        raise ValueError(
            f"Augmentation (pad + crop + flip) is defined for CIFAR only; {parsed.name} is used "
            f"without it. Received: name={parsed.name!r}, augment={augment!r}"
        )
    options = dict(batch_size=batch_size, shuffle=shuffle, seed=seed, image_size=image_size)
    if parsed.kind == "builtin":
        x, y = _read(parsed.name, split, data_dir, limit)
        return make_dataset(x, y, augment=augment, **options)
    if parsed.kind == "arrays":
        x, y = _array_split(parsed, split, limit)
        return make_dataset(x, y, **options)
    if parsed.kind == "tfds":
        from tfls.data import tfds_source

        builder = tfds_source.classification_builder(
            parsed.name, parsed.tfds_name, _data_dir(data_dir), prepare=True
        )
        return tfds_source.tfds_dataset(builder, parsed.name, split, limit=limit, **options)
    from tfls.data import folder_source

    root = folder_source.find_root(parsed.kind, parsed.path)
    names, (_, _, channels) = folder_source.read_info(root)
    files, labels = folder_source.examples(root, split, names)
    files, labels = _limited(files, labels, limit, f"{parsed.name} {split}")
    return folder_source.file_dataset(files, labels, channels=channels, **options)


# Above this size, images are gathered from numpy batch by batch rather than copied into a tensor.
_IN_TENSOR_BYTES = 1 << 28


def make_dataset(
    x: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int,
    shuffle: bool = False,
    augment: bool = False,
    seed: int = 0,
    image_size: tuple[int, int] | None = None,
):
    """Builds the `tf.data` pipeline of `load` from in-memory images and integer labels.

    `x` is uint8 (divided by 255) or float in `[0, 1]` (kept); a memory-mapped or large `x` is
    read a batch at a time instead of being copied into one tensor.
    """
    import tensorflow as tf

    from tfls.data.augment import pad_crop_flip
    from tfls.data.batch_buffers import map_batches, prefetch
    from tfls.data.resize import fit

    n = len(x)
    is_uint8 = x.dtype == np.uint8
    labels = tf.constant(np.asarray(y, np.int32))
    if isinstance(x, np.memmap) or x.nbytes > _IN_TENSOR_BYTES:
        dtype = tf.uint8 if is_uint8 else tf.as_dtype(x.dtype)

        def gather(index):
            batch = tf.numpy_function(lambda i: np.asarray(x[i]), [index], dtype)
            return tf.ensure_shape(batch, (None, *x.shape[1:]))
    else:
        images = tf.constant(x)

        def gather(index):
            return tf.gather(images, index)

    # The pipeline moves indices, not images: shuffling a 50,000-index buffer is cheap, and each
    # batch is gathered, converted to float and augmented in one vectorised step.
    ds = tf.data.Dataset.range(n)
    if shuffle:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)

    def to_float(index):
        batch = gather(index)
        batch = tf.cast(batch, tf.float32) / 255.0 if is_uint8 else tf.cast(batch, tf.float32)
        if len(x.shape) == 3:
            batch = batch[..., None]
        if image_size is not None:
            batch = fit(batch, image_size)
        return batch, tf.gather(labels, index)

    shape = (*(image_size or x.shape[1:3]), x.shape[3] if len(x.shape) == 4 else 1)
    if augment:
        # A fresh seed per batch and per epoch, from a stream that is itself fixed by `seed`.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(ds, seeds)

        def augmented(index, batch_seed):
            batch, batch_labels = to_float(index)
            return pad_crop_flip(batch, batch_seed), batch_labels

        ds = map_batches(ds, augmented, batch_size=batch_size, image_shape=shape)
    else:
        ds = map_batches(ds, to_float, batch_size=batch_size, image_shape=shape)
    return prefetch(ds, batch_size=batch_size, image_shape=shape)
