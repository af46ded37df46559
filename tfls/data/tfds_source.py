"""The TensorFlow Datasets source: prepared TFDS data on disk, else a download (needs a network)."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

import numpy as np

DOWNLOAD_ENV = "TFLS_TFDS_DOWNLOAD"


def download_allowed() -> bool:
    """Downloads are on unless `$TFLS_TFDS_DOWNLOAD` is `0`/`false`/`no` (offline machines, CI)."""
    return os.environ.get(DOWNLOAD_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
_PROBE_HOST = ("storage.googleapis.com", 443)  # where TFDS fetches MNIST and CIFAR from


def network_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP probe of TFDS's download host.

    Without it, an offline TFDS download spends minutes in urllib3 retries before failing. Behind
    a proxy the direct probe proves nothing, so the download is then simply attempted.
    """
    if any(os.environ.get(v) for v in _PROXY_VARS):
        return True
    try:
        with socket.create_connection(_PROBE_HOST, timeout=timeout):
            return True
    except OSError:
        return False


def _as_arrays(tfds, name: str, split: str, data_dir, download: bool):
    ds = tfds.load(
        name,
        split=split,
        data_dir=None if data_dir is None else str(data_dir),
        download=download,
        as_supervised=True,
        batch_size=-1,
        shuffle_files=False,
    )
    x, y = tfds.as_numpy(ds)
    return np.asarray(x, np.uint8), np.asarray(y, np.int32)


def tfds_arrays(
    name: str, split: str, data_dir: Path | None, looked: list[str]
) -> tuple[np.ndarray, np.ndarray, str] | None:
    """Loads `name`/`split` through `tfds.load`; returns `(x, y, description)` or None.

    Prepared data is looked for in `data_dir` (when given) and in TFDS's default folder
    (`$TFDS_DATA_DIR` or `~/tensorflow_datasets`); only if neither has it, and downloads are
    allowed, does TFDS download into its default folder. Every place tried is appended to
    `looked` for the caller's error message.
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        looked.append(f"TensorFlow Datasets: not importable ({e}); pip install tensorflow-datasets")
        return None
    dirs = ([data_dir] if data_dir is not None else []) + [None]
    for d in dirs:
        with quiet_absl():
            builder = tfds.builder(name, data_dir=None if d is None else str(d))
            prepared = builder.is_prepared()
        where = f"TFDS prepared data in {builder.data_dir}"
        if prepared:
            x, y = _as_arrays(tfds, name, split, d, download=False)
            return x, y, where
        looked.append(f"{where} (not prepared)")
    if not download_allowed():
        looked.append(f"TFDS download (skipped: ${DOWNLOAD_ENV}=0)")
        return None
    if not network_reachable():
        looked.append(f"TFDS download of {name!r} (skipped: {_PROBE_HOST[0]} is unreachable)")
        return None
    try:
        x, y = _as_arrays(tfds, name, split, None, download=True)
    except Exception as e:  # noqa: BLE001 - any download failure becomes one clear error upstream
        first_line = (str(e).strip().splitlines() or [""])[0][:200]
        looked.append(f"TFDS download of {name!r} (failed: {type(e).__name__}: {first_line})")
        return None
    return x, y, f"TFDS download of {name!r}"


# --- `tfds:NAME[:config]` specs: any TFDS image-classification dataset, streamed ------------------

SHUFFLE_BUFFER = 1024  # examples held by the shuffle of a streamed TFDS split


@contextlib.contextmanager
def quiet_absl():
    """Silences absl's warnings while a builder is made and asked whether its data is prepared
    ("Variant folder ... has no dataset_info.json"): what was not found goes into the one error
    that lists every place."""
    from absl import logging as absl_logging

    level = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.ERROR)
    try:
        yield
    finally:
        absl_logging.set_verbosity(level)


def _import_tfds():
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        raise ImportError(
            f"tfds: datasets need TensorFlow Datasets ({e}); pip install tensorflow-datasets"
        ) from e
    return tfds


def _builders(tfds, name: str, data_dir: Path | None, looked: list[str]):
    """Yields `(builder, prepared)` for `data_dir` (when given) then TFDS's default folder."""
    for d in ([data_dir] if data_dir is not None else []) + [None]:
        try:
            with quiet_absl():
                builder = tfds.builder(name, data_dir=None if d is None else str(d))
        except Exception as e:  # noqa: BLE001 - unknown name or unreadable files: listed upstream
            first_line = (str(e).strip().splitlines() or [""])[0][:200]
            where = "TFDS's default data_dir" if d is None else f"TFDS data_dir {d}"
            looked.append(f"{where} ({type(e).__name__}: {first_line})")
            continue
        with quiet_absl():
            prepared = builder.is_prepared()
        if not prepared:
            looked.append(f"TFDS prepared data in {builder.data_dir} (not prepared)")
        yield builder, prepared


def _not_found(spec_name: str, name: str, looked: list[str]) -> FileNotFoundError:
    places = "\n  - ".join(looked)
    return FileNotFoundError(
        f"Could not find TFDS dataset {name!r} ({spec_name}). Looked in:\n  - {places}\n"
        f"Prepare it on a machine with a network (tfds.builder({name!r}).download_and_prepare()) "
        f"and pass its TFDS data_dir as data_dir=... (CLI: --data-dir), or let TFDS download it "
        f"here (leave ${DOWNLOAD_ENV} unset)."
    )


def classification_builder(spec_name: str, name: str, data_dir: Path | None, *, prepare: bool):
    """The TFDS builder of `name`: prepared data in `data_dir` or TFDS's default folder, else
    (when `prepare`) a download under the usual rules; when not `prepare`, a registered builder's
    metadata is enough (its features and class names are defined in code)."""
    tfds = _import_tfds()
    looked: list[str] = []
    fallback = None
    for builder, prepared in _builders(tfds, name, data_dir, looked):
        if prepared:
            return builder
        fallback = fallback or builder
    if fallback is not None and not prepare:
        return fallback
    if fallback is None:
        raise _not_found(spec_name, name, looked)
    if not download_allowed():
        looked.append(f"TFDS download (skipped: ${DOWNLOAD_ENV}=0)")
        raise _not_found(spec_name, name, looked)
    if not network_reachable():
        looked.append(f"TFDS download of {name!r} (skipped: {_PROBE_HOST[0]} is unreachable)")
        raise _not_found(spec_name, name, looked)
    builder = tfds.builder(name)
    builder.download_and_prepare()
    return builder


def feature_keys(builder, spec_name: str) -> tuple[str, str]:
    """`(image key, label key)`: the `supervised_keys` when they are an Image and a ClassLabel,
    else the one top-level Image and the one top-level ClassLabel feature."""
    tfds = _import_tfds()
    features = builder.info.features
    images = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
    labels = [k for k, f in features.items() if isinstance(f, tfds.features.ClassLabel)]
    keys = builder.info.supervised_keys
    if keys and len(keys) == 2 and keys[0] in images and keys[1] in labels:
        return keys[0], keys[1]
    if len(images) == 1 and len(labels) == 1:
        return images[0], labels[0]

    def describe(key, feature):
        shape = getattr(feature, "shape", None)
        return f"{key}: {type(feature).__name__}" + (f"{tuple(shape)}" if shape is not None else "")

    found = ", ".join(describe(k, f) for k, f in features.items())
    raise ValueError(
        f"{spec_name} is not an image-classification dataset: tfls needs one Image and one "
        f"ClassLabel feature, and its features are {found}. Received: dataset={spec_name!r}"
    )


def image_feature(builder, spec_name: str):
    """`(image key, label key, (h, w, c) with None for varying sizes, class names)`."""
    import tensorflow as tf

    image_key, label_key = feature_keys(builder, spec_name)
    image, label = builder.info.features[image_key], builder.info.features[label_key]
    np_dtype = getattr(image, "np_dtype", None)  # `.dtype` is deprecated in recent TFDS
    dtype = tf.as_dtype(image.dtype if np_dtype is None else np_dtype)
    if dtype != tf.uint8:
        raise ValueError(
            f"{spec_name} stores {dtype.name} images; tfls reads uint8 TFDS "
            f"images. Received: dataset={spec_name!r}"
        )
    shape = tuple(None if d is None else int(d) for d in image.shape)
    return image_key, label_key, shape, tuple(label.names)


def split_size(builder, split: str, spec_name: str) -> int:
    """Examples in `split` (TFDS split syntax, slices included)."""
    try:
        return int(builder.info.splits[split].num_examples)
    except (KeyError, ValueError, AssertionError) as e:
        available = ", ".join(sorted(builder.info.splits.keys()))
        first_line = (str(e).strip().splitlines() or [""])[0][:160]
        raise ValueError(
            f"{spec_name} has no split {split!r} ({first_line}); its splits are {available} "
            f"(slices such as test[:1000] work). Received: split={split!r}"
        ) from None


def tfds_dataset(
    builder,
    spec_name: str,
    split: str,
    *,
    limit: int | None,
    image_size: tuple[int, int] | None,
    batch_size: int,
    shuffle: bool,
    seed: int,
):
    """The batched pipeline of one TFDS split, streamed from its files in their fixed order."""
    import tensorflow as tf

    from tfls.data.batch_buffers import prefetch
    from tfls.data.resize import fit

    image_key, label_key, shape, _ = image_feature(builder, spec_name)
    n = split_size(builder, split, spec_name)
    if limit is not None and limit > n:
        raise ValueError(
            f"`limit` is larger than the {spec_name} {split} split ({n} examples, TFDS data in "
            f"{builder.data_dir}). Received: limit={limit}"
        )
    if image_size is None and None in shape[:2]:
        raise ValueError(
            f"{spec_name} images vary in size (TFDS shape {shape}); pass image_size=(height, "
            f"width) to resize them. Received: image_size=None"
        )
    tfds = _import_tfds()
    # One file at a time: the stream is the split's own order, so a `limit` is its prefix.
    read_config = tfds.ReadConfig(interleave_cycle_length=1)
    ds = builder.as_dataset(split=split, shuffle_files=False, read_config=read_config)
    ds = ds.map(lambda ex: (ex[image_key], tf.cast(ex[label_key], tf.int32)))
    if limit is not None:
        ds = ds.take(limit)
    if shuffle:
        ds = ds.shuffle(min(n, SHUFFLE_BUFFER), seed=seed, reshuffle_each_iteration=True)

    def to_float(image, label):
        image = tf.cast(image, tf.float32) / 255.0
        return (fit(image, image_size) if image_size is not None else image), label

    ds = ds.map(to_float, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    out_shape = (*(image_size or shape[:2]), shape[2])
    return prefetch(ds.batch(batch_size), batch_size=batch_size, image_shape=out_shape)
