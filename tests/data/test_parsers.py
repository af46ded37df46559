"""Each offline layout, built tiny in tmp_path, reads back exactly what was written."""

from __future__ import annotations

import os

import numpy as np
import pytest

import tfls.data
from tests.data.conftest import make_idx_dataset, make_image_tree, make_tar, write_cifar_pickle
from tfls.data import idx, sources
from tfls.data.registry import CIFAR10_CLASSES


def test_read_idx_roundtrip_gz_and_plain(tmp_path):
    written = make_idx_dataset(tmp_path / "gz", gz=True)
    plain = make_idx_dataset(tmp_path / "plain", gz=False)
    x = idx.read_idx(tmp_path / "gz" / "t10k-images-idx3-ubyte.gz")
    np.testing.assert_array_equal(x, written["test"][0])
    y = idx.read_idx(tmp_path / "plain" / "train-labels-idx1-ubyte")
    np.testing.assert_array_equal(y, plain["train"][1])


def test_read_idx_rejects_bad_magic_and_truncation(tmp_path):
    bad = tmp_path / "bad-idx"
    bad.write_bytes(b"\x01\x02\x03\x04" + b"\x00" * 20)
    with pytest.raises(ValueError, match="Not an IDX file"):
        idx.read_idx(bad)
    make_idx_dataset(tmp_path, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ValueError, match="truncated"):
        idx.read_idx(path)


@pytest.mark.parametrize("sub", ["fashion-mnist", ""])
def test_fashion_mnist_from_idx_folder_or_top_level(tmp_path, sub):
    written = make_idx_dataset(tmp_path / sub if sub else tmp_path)
    x, y = tfls.data.load_arrays("fashion_mnist", "test", data_dir=tmp_path)
    assert x.shape == (6, 28, 28, 1) and x.dtype == np.float32 and y.dtype == np.int32
    np.testing.assert_array_equal(np.round(x[..., 0] * 255).astype(np.uint8), written["test"][0])
    np.testing.assert_array_equal(y, written["test"][1])


def test_mnist_is_not_read_from_a_fashion_mnist_folder(tmp_path):
    fashion = tmp_path / "fashion-mnist"
    make_idx_dataset(fashion)
    with pytest.raises(FileNotFoundError, match="'mnist'"):
        tfls.data.load_arrays("mnist", "test", data_dir=fashion)
    # ...but a mnist/ folder next to it is found.
    written = make_idx_dataset(tmp_path / "mnist", seed=1)
    _, y = tfls.data.load_arrays("mnist", "train", data_dir=tmp_path)
    np.testing.assert_array_equal(y, written["train"][1])


def test_debian_folder_is_the_second_source(tmp_path, monkeypatch):
    written = make_idx_dataset(tmp_path / "debian")
    monkeypatch.setitem(sources.DEBIAN_DIRS, "fashion_mnist", tmp_path / "debian")
    _, y = tfls.data.load_arrays("fashion_mnist", "train")
    np.testing.assert_array_equal(y, written["train"][1])


@pytest.mark.parametrize(
    "name,folder,files,key",
    [
        ("cifar10", "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], b"labels"),
        ("cifar100", "cifar-100-python", ["train"], b"fine_labels"),
    ],
)
def test_cifar_pickle_batches(tmp_path, name, folder, files, key):
    rng = np.random.default_rng(0)
    n_classes = tfls.data.info(name).num_classes
    parts = []
    for f in files:
        x = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
        y = rng.integers(0, n_classes, 3)
        write_cifar_pickle(tmp_path / folder / f, x, y, key)
        parts.append((x, y))
    test_name = "test_batch" if name == "cifar10" else "test"
    write_cifar_pickle(tmp_path / folder / test_name, parts[0][0][:1], [1], key)
    x, y = tfls.data.load_arrays(name, "train", data_dir=tmp_path)
    np.testing.assert_array_equal(
        np.round(x * 255).astype(np.uint8), np.concatenate([p[0] for p in parts])
    )
    np.testing.assert_array_equal(y, np.concatenate([p[1] for p in parts]))
    # A hand-set pixel checks the planes -> NHWC transpose: red channel of pixel (row 0, col 1).
    raw = np.zeros((1, 32, 32, 3), np.uint8)
    raw[0, 0, 1, 0] = 200
    write_cifar_pickle(tmp_path / folder / test_name, raw, [2], key)
    x, y = tfls.data.load_arrays(name, "test", data_dir=tmp_path)
    assert x[0, 0, 1, 0] == pytest.approx(200 / 255) and x.sum() == pytest.approx(200 / 255)
    assert y.tolist() == [2]


def test_image_folder_tar_unpacks_into_cache_once(tmp_path):
    tree = tmp_path / "build"
    images = make_image_tree(tree)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    make_tar(tree, data_dir / "cifar10-tiny.tar.gz")
    before = sorted(os.listdir(data_dir))

    x, y = tfls.data.load_arrays("cifar10", "train", data_dir=data_dir)
    assert sorted(os.listdir(data_dir)) == before  # nothing written beside the source
    assert x.shape == (20, 32, 32, 3)
    # Canonical CIFAR-10 label order, round-robin over classes: file 0000 of each class first.
    assert y.tolist() == list(range(10)) * 2
    for i, label in enumerate(y):
        expected = images["train"][(CIFAR10_CLASSES[label], i // 10)]
        np.testing.assert_array_equal(np.round(x[i] * 255).astype(np.uint8), expected)

    cache = tfls.data.cache.cache_dir()
    unpacked = list((cache / "unpacked").glob("cifar10-tiny-*"))
    assert len(unpacked) == 1 and (unpacked[0] / "train" / "airplane").is_dir()
    assert not list((cache / "unpacked").glob(".unpack-*"))  # no leftover temporary folder
    # The second load reads the decoded .npz, not the images: it works without the tree.
    import shutil

    shutil.rmtree(unpacked[0])
    x2, y2 = tfls.data.load_arrays("cifar10", "train", data_dir=data_dir)
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(y2, y)


def test_image_folder_with_unknown_class_names_uses_sorted_order(tmp_path):
    classes = [f"c{i}" for i in (3, 1, 2, 0, 4, 5, 6, 7, 8, 9)]
    make_image_tree(tmp_path / "cifar10", classes=classes, per_class={"test": 1})
    _, y = tfls.data.load_arrays("cifar10", "test", data_dir=tmp_path)
    assert y.tolist() == list(range(10))


def test_image_folder_tree_directly_in_data_dir_with_canonical_names(tmp_path):
    make_image_tree(tmp_path, per_class={"test": 1})
    _, y = tfls.data.load_arrays("cifar10", "test", data_dir=tmp_path)
    assert y.tolist() == list(range(10))


def test_image_of_wrong_size_is_refused(tmp_path):
    from PIL import Image

    make_image_tree(tmp_path / "cifar10", per_class={"test": 1})
    Image.fromarray(np.zeros((30, 32, 3), np.uint8)).save(tmp_path / "cifar10/test/cat/0001.png")
    with pytest.raises(ValueError, match="0001.png"):
        tfls.data.load_arrays("cifar10", "test", data_dir=tmp_path)
