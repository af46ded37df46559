"""`tfls.data.load`: the offline copy, the pipeline's contract, determinism and clear errors."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

import tfls.data
from tests.data.conftest import make_idx_dataset, make_image_tree


def _collect(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds], strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def test_fashion_mnist_from_shared_data(shared_data_dir):
    ds = tfls.data.load("fashion_mnist", "test", batch_size=1000, data_dir=shared_data_dir)
    x, y = _collect(ds)
    assert x.shape == (10000, 28, 28, 1) and x.dtype == np.float32
    assert y.shape == (10000,) and y.dtype == np.int32
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.99
    assert sorted(np.unique(y).tolist()) == list(range(10))
    assert np.bincount(y).tolist() == [1000] * 10  # Fashion-MNIST's test split is balanced
    x_train, y_train = tfls.data.load_arrays("fashion_mnist", "train", data_dir=shared_data_dir)
    assert x_train.shape == (60000, 28, 28, 1) and np.bincount(y_train).tolist() == [6000] * 10


def test_env_var_is_the_default_data_dir(shared_data_dir, monkeypatch):
    monkeypatch.setenv("TFLS_DATA_DIR", str(shared_data_dir))
    x, y = next(iter(tfls.data.load("fashion_mnist", "train", batch_size=7, limit=7)))
    assert x.shape == (7, 28, 28, 1) and y.shape == (7,)


def test_batches_and_limit(tmp_path):
    written = make_idx_dataset(tmp_path, n_train=10)
    ds = tfls.data.load("mnist", "train", batch_size=4, data_dir=tmp_path, limit=9)
    sizes = [int(y.shape[0]) for _, y in ds]
    assert sizes == [4, 4, 1]
    _, y = _collect(ds)
    np.testing.assert_array_equal(y, written["train"][1][:9])  # the first 9, in order


def test_shuffle_is_seeded_and_reshuffles_each_epoch(tmp_path):
    make_idx_dataset(tmp_path, n_train=40)

    def order(seed, epochs=2):
        ds = tfls.data.load(
            "mnist", "train", batch_size=8, data_dir=tmp_path, shuffle=True, seed=seed
        )
        return [_collect(ds)[0][:, :2, 0, 0].tolist() for _ in range(epochs)]

    a, b, c = order(1), order(1), order(2)
    assert a == b  # same seed: same sequence of epoch orders
    assert a[0] != a[1]  # a new order each epoch
    assert a[0] != c[0]  # another seed, another order
    unshuffled = _collect(tfls.data.load("mnist", "train", batch_size=8, data_dir=tmp_path))[0]
    assert sorted(a[0]) == sorted(unshuffled[:, :2, 0, 0].tolist())  # a permutation
    assert a[0] != unshuffled[:, :2, 0, 0].tolist()


def _is_padded_crop(aug, orig, pad=4):
    """True when `aug` is a (possibly flipped) 32x32 window of `orig` zero-padded by `pad`."""
    padded = np.pad(orig, ((pad, pad), (pad, pad), (0, 0)))
    for img in (aug, aug[:, ::-1]):
        for dy in range(2 * pad + 1):
            for dx in range(2 * pad + 1):
                if np.array_equal(padded[dy : dy + 32, dx : dx + 32], img):
                    return True
    return False


def test_augment_is_pad_crop_flip_seeded_and_new_each_epoch(tmp_path):
    make_image_tree(tmp_path / "cifar10", per_class={"train": 2})
    plain = _collect(tfls.data.load("cifar10", "train", batch_size=8, data_dir=tmp_path))[0]

    def epochs(seed):
        ds = tfls.data.load(
            "cifar10", "train", batch_size=8, data_dir=tmp_path, augment=True, seed=seed
        )
        return [_collect(ds)[0] for _ in range(2)]

    a, b, c = epochs(3), epochs(3), epochs(4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], a[1]) and not np.array_equal(a[0], c[0])
    assert not np.array_equal(a[0], plain)
    for aug, orig in zip(a[0], plain, strict=True):
        assert _is_padded_crop(aug, orig)


def test_builtin_splits_take_slices(tmp_path):
    written = make_idx_dataset(tmp_path, n_train=10)
    x, y = tfls.data.load_arrays("mnist", "train[3:7]", data_dir=tmp_path)
    np.testing.assert_array_equal(y, written["train"][1][3:7])
    x_all, _ = tfls.data.load_arrays("mnist", "train", data_dir=tmp_path)
    np.testing.assert_array_equal(x, x_all[3:7])
    _, y = _collect(tfls.data.load("mnist", "train[50%:]", batch_size=4, data_dir=tmp_path))
    np.testing.assert_array_equal(y, written["train"][1][5:])
    with pytest.raises(ValueError, match=r"split='train\[:x\]'"):
        tfls.data.load_arrays("mnist", "train[:x]", data_dir=tmp_path)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(name="svhn"), "name='svhn'|dataset='svhn'"),
        (dict(split="validation"), "split='validation'"),
        (dict(batch_size=0), "batch_size=0"),
        (dict(batch_size=2.5), "batch_size=2.5"),
        (dict(limit=0), "limit=0"),
        (dict(limit=10**6), "limit=1000000"),
        (dict(augment=True), "augment=True"),
        (dict(seed="x"), "seed='x'"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_value(tmp_path, kwargs, match):
    make_idx_dataset(tmp_path)
    args = dict(name="mnist", split="train", batch_size=4, data_dir=tmp_path) | kwargs
    with pytest.raises(ValueError, match=match):
        tfls.data.load(args.pop("name"), args.pop("split"), **args)


def test_missing_data_dir_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        tfls.data.load("mnist", "test", batch_size=4, data_dir=tmp_path / "nowhere")


def test_no_source_gives_one_error_listing_every_place(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        tfls.data.load("cifar100", "test", batch_size=4, data_dir=tmp_path)
    msg = str(err.value)
    assert "'cifar100'" in msg
    assert str(tmp_path) in msg and "cifar-100-python" in msg  # the folder and layouts tried
    assert "TFDS prepared data" in msg and "TFDS download" in msg  # the TFDS places
    assert "TFLS_DATA_DIR" in msg and "data_dir" in msg and "tfds.load" in msg  # how to fix


def test_info_is_a_frozen_dataclass():
    info = tfls.data.info("cifar100")
    assert (info.name, info.num_classes, info.input_shape) == ("cifar100", 100, (32, 32, 3))
    assert len(info.class_names) == 100 and info.class_names[:2] == ("apple", "aquarium_fish")
    assert tfls.data.info("cifar10").class_names[0] == "airplane"
    assert set(tfls.data.NAMES) == {"mnist", "fashion_mnist", "cifar10", "cifar100"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.num_classes = 3
    with pytest.raises(ValueError, match="'imagenet'"):
        tfls.data.info("imagenet")


@pytest.mark.slow
def test_cifar10_jpeg_tarball_from_shared_data(shared_data_dir):
    """Decodes all 60,000 JPEGs of ../shared/data/cifar10-jpeg.tar.gz (about 25 s on 2 cores)."""
    start = time.perf_counter()
    x, y = tfls.data.load_arrays("cifar10", "test", data_dir=shared_data_dir)
    first = time.perf_counter() - start
    assert x.shape == (10000, 32, 32, 3) and np.bincount(y).tolist() == [1000] * 10
    assert 0.0 <= x.min() and x.max() <= 1.0
    x_train, y_train = tfls.data.load_arrays("cifar10", "train", data_dir=shared_data_dir)
    assert x_train.shape == (50000, 32, 32, 3) and np.bincount(y_train).tolist() == [5000] * 10
    start = time.perf_counter()
    ds = tfls.data.load("cifar10", "test", batch_size=500, data_dir=shared_data_dir, limit=1000)
    second = time.perf_counter() - start
    xb, yb = _collect(ds)
    np.testing.assert_array_equal(xb, x[:1000])
    assert np.bincount(yb).tolist() == [100] * 10  # the prefix is class-balanced
    assert second < first  # the cached .npz is read, not the JPEGs
    # Mean colour of CIFAR-10 is about (0.49, 0.48, 0.45): a check of channel order and scale.
    np.testing.assert_allclose(
        x_train.mean(axis=(0, 1, 2), dtype=np.float64), (0.4914, 0.4822, 0.4465), atol=0.01
    )
