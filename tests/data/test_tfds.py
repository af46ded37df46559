"""The TensorFlow Datasets branch, on a tiny CIFAR-10 written by TFDS itself into a local folder."""

from __future__ import annotations

import numpy as np
import pytest

import tfls.data

tfds = pytest.importorskip("tensorflow_datasets")


@pytest.fixture
def tiny_tfds_cifar10(tmp_path):
    """A prepared `cifar10` in `tmp_path` (TFDS's own writer, the real builder's features)."""
    import tensorflow as tf

    features = tfds.builder("cifar10").info.features
    version = str(tfds.builder("cifar10").version)
    rng = np.random.default_rng(0)
    written = {}

    def split(n):
        x = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        y = rng.integers(0, 10, n).astype(np.int64)
        written[n] = (x, y)
        ids = [f"train_{i:05d}" for i in range(n)]
        return tf.data.Dataset.from_tensor_slices({"id": ids, "image": x, "label": y})

    tfds.dataset_builders.store_as_tfds_dataset(
        name="cifar10",
        version=version,
        features=features,
        split_datasets={"train": split(12), "test": split(5)},
        data_dir=tmp_path,
        disable_shuffling=True,  # keep the written order, so the test can compare exactly
    )
    return tmp_path, written


def test_tfds_branch_reads_prepared_local_data(tiny_tfds_cifar10, monkeypatch):
    data_dir, written = tiny_tfds_cifar10
    calls = []
    real_load = tfds.load

    def spy(name, **kwargs):
        calls.append((name, kwargs))
        return real_load(name, **kwargs)

    monkeypatch.setattr(tfds, "load", spy)
    ds = tfls.data.load("cifar10", "test", batch_size=4, data_dir=data_dir)
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds], strict=True)
    x, y = np.concatenate(xs), np.concatenate(ys)

    assert [c[0] for c in calls] == ["cifar10"]
    kwargs = calls[0][1]
    assert kwargs["split"] == "test" and kwargs["data_dir"] == str(data_dir)
    assert kwargs["download"] is False  # prepared data is read, nothing fetched
    assert x.dtype == np.float32 and y.dtype == np.int32 and x.shape == (5, 32, 32, 3)
    np.testing.assert_allclose(x, written[5][0] / 255.0, atol=1e-7)
    np.testing.assert_array_equal(y, written[5][1])


def test_tfds_branch_feeds_limit_shuffle_and_augment(tiny_tfds_cifar10):
    data_dir, written = tiny_tfds_cifar10
    ds = tfls.data.load(
        "cifar10", "train", batch_size=5, data_dir=data_dir, limit=10, shuffle=True, augment=True
    )
    labels = np.concatenate([y.numpy() for _, y in ds])
    assert sorted(labels.tolist()) == sorted(written[12][1][:10].tolist())


def test_looking_in_unprepared_tfds_folders_logs_nothing(tmp_path, caplog):
    """absl's "Variant folder ... has no dataset_info.json" lines printed above the CLI's one-line
    error; the places tried are in that error already."""
    import logging

    with caplog.at_level(logging.INFO), pytest.raises(FileNotFoundError) as info:
        tfls.data.load_arrays("fashion_mnist", "test", data_dir=tmp_path)
    assert "not prepared" in str(info.value)
    assert [r.getMessage() for r in caplog.records if "dataset_info" in r.getMessage()] == []
