"""`tfds:NAME[:config]` specs, on small datasets written by TFDS itself into `tmp_path` (no network)."""

from __future__ import annotations

import numpy as np
import pytest

import tfls.data

tfds = pytest.importorskip("tensorflow_datasets")


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    """In one TFDS `data_dir`: a prepared `svhn_cropped` (the real builder's features and
    version), `tiny_regression` (an image and a float: not classification) and `tiny_mixed`
    (images of two sizes, other feature names)."""
    import tensorflow as tf

    data_dir = tmp_path_factory.mktemp("tfds")
    builder = tfds.builder("svhn_cropped")
    rng = np.random.default_rng(0)
    written = {}

    def split(name, n):
        x = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        y = rng.integers(0, 10, n).astype(np.int64)
        written[name] = (x, y)
        ids = [f"{name}_{i}" for i in range(n)]
        return tf.data.Dataset.from_tensor_slices({"id": ids, "image": x, "label": y})

    tfds.dataset_builders.store_as_tfds_dataset(
        name="svhn_cropped",
        version=str(builder.version),
        features=builder.info.features,
        split_datasets={"train": split("train", 8), "test": split("test", 6)},
        data_dir=data_dir,
        disable_shuffling=True,  # keep the written order, so the test can compare exactly
    )
    features = tfds.features.FeaturesDict(
        {
            "image": tfds.features.Image(shape=(8, 8, 3)),
            "value": tfds.features.Tensor(shape=(), dtype=np.float32),
        }
    )
    examples = {"image": np.zeros((2, 8, 8, 3), np.uint8), "value": np.zeros(2, np.float32)}
    tfds.dataset_builders.store_as_tfds_dataset(
        name="tiny_regression",
        version="1.0.0",
        features=features,
        split_datasets={"test": tf.data.Dataset.from_tensor_slices(examples)},
        data_dir=data_dir,
    )
    mixed = tfds.features.FeaturesDict(
        {
            "picture": tfds.features.Image(shape=(None, None, 3)),
            "kind": tfds.features.ClassLabel(names=["round", "square"]),
        }
    )
    tfds.dataset_builders.store_as_tfds_dataset(
        name="tiny_mixed",
        version="1.0.0",
        features=mixed,
        split_datasets={
            "test": tf.data.Dataset.from_generator(
                lambda: iter(
                    [
                        {"picture": np.full((6, 4, 3), 10, np.uint8), "kind": 1},
                        {"picture": np.full((5, 9, 3), 200, np.uint8), "kind": 0},
                    ]
                ),
                output_signature={
                    "picture": tf.TensorSpec((None, None, 3), tf.uint8),
                    "kind": tf.TensorSpec((), tf.int64),
                },
            )
        },
        data_dir=data_dir,
        disable_shuffling=True,
    )
    return data_dir, written


def _collect(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds], strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def test_info_from_the_builder_features(tfds_dir):
    data_dir, _ = tfds_dir
    info = tfls.data.info("tfds:svhn_cropped", data_dir=data_dir)
    assert (info.name, info.num_classes, info.input_shape) == ("tfds:svhn_cropped", 10, (32, 32, 3))
    assert info.class_names == tuple(str(i) for i in range(10))  # the ClassLabel's names
    assert dict(info.split_sizes) == {"train": 8, "test": 6}


def test_split_slices_read_the_written_examples(tfds_dir):
    data_dir, written = tfds_dir
    x, y = _collect(
        tfls.data.load("tfds:svhn_cropped", "test[:3]", batch_size=2, data_dir=data_dir)
    )
    assert x.dtype == np.float32 and y.dtype == np.int32 and x.shape == (3, 32, 32, 3)
    np.testing.assert_allclose(x, written["test"][0][:3] / 255.0, atol=1e-7)
    np.testing.assert_array_equal(y, written["test"][1][:3])
    x, y = tfls.data.load_arrays(
        "tfds:svhn_cropped", "train[50%:]", data_dir=data_dir, limit=3, image_size=(16, 16)
    )
    assert x.shape == (3, 16, 16, 3)
    np.testing.assert_array_equal(y, written["train"][1][4:7])


def test_shuffle_is_seeded(tfds_dir):
    data_dir, written = tfds_dir

    def order(seed):
        ds = tfls.data.load(
            "tfds:svhn_cropped", "train", batch_size=3, data_dir=data_dir, shuffle=True, seed=seed
        )
        return [np.round(_collect(ds)[0][:, 0, 0, 0] * 255).tolist() for _ in range(2)]

    a, b = order(7), order(7)
    assert a == b and a[0] != a[1]
    assert sorted(a[0]) == sorted(written["train"][0][:, 0, 0, 0].tolist())


def test_refusals_name_the_value(tfds_dir):
    data_dir, _ = tfds_dir
    with pytest.raises(ValueError, match="not an image-classification.*value: Tensor") as err:
        tfls.data.load("tfds:tiny_regression", "test", batch_size=2, data_dir=data_dir)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="splits are test, train.*split='validation'"):
        tfls.data.load("tfds:svhn_cropped", "validation", batch_size=2, data_dir=data_dir)
    with pytest.raises(ValueError, match="limit=7"):
        tfls.data.load("tfds:svhn_cropped", "test", batch_size=2, data_dir=data_dir, limit=7)
    with pytest.raises(ValueError, match="CIFAR only.*augment=True"):
        tfls.data.load("tfds:svhn_cropped", "test", batch_size=2, data_dir=data_dir, augment=True)


def test_data_not_prepared_offline_lists_places(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        tfls.data.load("tfds:svhn_cropped", "test", batch_size=2, data_dir=tmp_path)
    msg = str(err.value)
    assert f"{tmp_path}/svhn_cropped" in msg and "not prepared" in msg
    assert "TFLS_TFDS_DOWNLOAD=0" in msg and "download_and_prepare" in msg
    # Metadata of a registered dataset needs no data: info works offline.
    assert tfls.data.info("tfds:svhn_cropped", data_dir=tmp_path).num_classes == 10


def test_varying_image_sizes_need_image_size(tfds_dir):
    data_dir, _ = tfds_dir
    info = tfls.data.info("tfds:tiny_mixed", data_dir=data_dir)
    assert (info.input_shape, info.class_names) == ((None, None, 3), ("round", "square"))
    with pytest.raises(ValueError, match=r"vary in size.*image_size=None"):
        tfls.data.load("tfds:tiny_mixed", "test", batch_size=2, data_dir=data_dir)
    x, y = tfls.data.load_arrays("tfds:tiny_mixed", "test", data_dir=data_dir, image_size=(4, 4))
    assert x.shape == (2, 4, 4, 3) and y.tolist() == [1, 0]
    np.testing.assert_allclose(x[0], 10 / 255.0, atol=1e-6)  # a constant image stays constant
    np.testing.assert_allclose(x[1], 200 / 255.0, atol=1e-6)
