"""Damaged data files: each is refused in one line naming the file and its defect, before the
sizes its header claims are allocated and before a `tf.data` pipeline reaches it."""

from __future__ import annotations

import gzip
import re
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import tfls.data
from tests.data.conftest import make_idx_dataset, make_image_tree
from tfls.data import folder_source, idx

CLASSES = ("cat", "dog")


def one_line(info, *patterns) -> str:
    message = str(info.value)
    assert "\n" not in message, message
    for pattern in patterns:
        assert re.search(pattern, message), (pattern, message)
    return message


def idx_bytes(shape, payload: bytes) -> bytes:
    return bytes([0, 0, 0x08, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + payload


# -- IDX ---------------------------------------------------------------------------------------


def test_a_header_claiming_a_billion_images_is_refused_before_its_payload_is_read(tmp_path):
    # The payload after the header is cut mid-stream: reading it would fail differently (a
    # truncated gzip stream), so this message proves the sizes were compared first.
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes((10**9, 28, 28), bytes(20 * 784)))[:-8])
    tracemalloc.start()
    with pytest.raises(ValueError) as info:
        idx.read_idx(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    one_line(
        info, r"header promises shape \(1000000000, 28, 28\)", "holds at most", re.escape(str(path))
    )
    assert peak < 1 << 20  # no buffer of the claimed 784 GB, nor of the file


def test_an_uncompressed_header_claiming_more_than_the_file_holds(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(idx_bytes((10**9, 28, 28), bytes(784)))
    with pytest.raises(ValueError) as info:
        idx.read_idx(path)
    one_line(info, r"promises shape \(1000000000, 28, 28\)", r"it holds 800 bytes", str(path))


@pytest.mark.parametrize(
    "damage, pattern",
    [
        (lambda b: b[: len(b) // 2], r"truncated: its gzip stream ends before the end-of-stream"),
        (lambda b: b"plain text, not gzip" * 20, r"not gzip data although its name ends in \.gz"),
        (lambda b: b[:10] + bytes(len(b) - 10), r"(corrupt|truncated|not gzip)"),
        (lambda b: gzip.compress(b""), r"Not an IDX file \(the file is empty"),
        (lambda b: gzip.compress(bytes([0, 0, 8, 3, 0, 0])), r"header announces 3 dimensions"),
    ],
    ids=["truncated-gzip", "not-gzip", "zeroed-deflate", "empty", "short-header"],
)
def test_damaged_idx_gz_names_the_file_and_its_defect(tmp_path, damage, pattern):
    make_idx_dataset(tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError) as info:
        tfls.data.load_arrays("fashion_mnist", "test", data_dir=tmp_path)
    one_line(info, pattern, re.escape(str(path)))


def test_images_and_labels_headers_are_compared_before_either_payload_is_read(tmp_path):
    make_idx_dataset(tmp_path, n_test=6)
    images = tmp_path / "t10k-images-idx3-ubyte.gz"
    # A valid header over a truncated payload: the count mismatch must be found first.
    images.write_bytes(gzip.compress(idx_bytes((7, 28, 28), bytes(100))))
    with pytest.raises(ValueError) as info:
        tfls.data.load_arrays("fashion_mnist", "test", data_dir=tmp_path)
    one_line(info, r"do not match: images shape \(7, 28, 28\), labels shape \(6,\)")


def test_good_idx_files_still_read_exactly(tmp_path):
    written = make_idx_dataset(tmp_path, n_test=6)
    x = idx.read_idx(tmp_path / "t10k-images-idx3-ubyte.gz")
    np.testing.assert_array_equal(x, written["test"][0])
    assert idx.read_idx_header(tmp_path / "t10k-labels-idx1-ubyte.gz")[1] == (6,)


# -- .npz --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, pattern",
    [
        (b"not an npz" * 10, r"garbage\.npz is not a readable \.npz file"),
        (None, r"garbage\.npz holds one bare array"),
    ],
    ids=["bytes", "npy-renamed"],
)
def test_an_unreadable_npz_is_named(tmp_path, content, pattern):
    path = tmp_path / "garbage.npz"
    if content is None:
        with open(path, "wb") as f:
            np.save(f, np.zeros((2, 4, 4), np.uint8))
    else:
        path.write_bytes(content)
    for call in (
        lambda: tfls.data.info(str(path)),
        lambda: tfls.data.load_arrays(str(path), "test"),
    ):
        with pytest.raises(ValueError) as info:
            call()
        message = one_line(info, pattern, r"Received: dataset=")
        assert "pickled" not in message  # numpy's own guess named an unrelated cause


def test_npz_info_reads_only_the_image_header(tmp_path, monkeypatch):
    path = tmp_path / "big.npz"
    np.savez(path, x=np.zeros((30, 8, 8, 3), np.uint8), y=np.arange(30) % 4)
    reads = []
    original = np.lib.npyio.NpzFile.__getitem__

    def spy(self, key):
        reads.append(key)
        return original(self, key)

    monkeypatch.setattr(np.lib.npyio.NpzFile, "__getitem__", spy)
    found = tfls.data.info(str(path))
    assert (found.num_classes, found.input_shape) == (4, (8, 8, 3))
    assert reads == ["y"]  # the pixels stay on disk until a split is loaded


def test_npz_length_mismatch_is_refused_from_the_header(tmp_path):
    path = tmp_path / "mismatch.npz"
    np.savez(path, x=np.zeros((20, 4, 4), np.uint8), y=np.zeros(15, np.int64))
    with pytest.raises(ValueError) as info:
        tfls.data.info(str(path))
    one_line(info, r"Received: len\(x\)=20, len\(y\)=15")


# -- image folders -----------------------------------------------------------------------------


def png_tree(root: Path):
    make_image_tree(root, classes=CLASSES, per_class={"test": 3})
    return root / "test" / "dog" / "0001.png"


def cut(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def to_jpeg(root: Path) -> None:
    for png in sorted(root.rglob("*.png")):
        Image.open(png).save(png.with_suffix(".jpg"), quality=90)
        png.unlink()


@pytest.mark.parametrize(
    "damage, pattern",
    [
        (cut, r"is truncated: its PNG data ends after \d+ bytes without the PNG end marker"),
        (lambda p: p.write_bytes(b"hello, not a png"), r"is no PNG, JPEG, GIF or BMP image"),
        (lambda p: p.write_bytes(b""), r"is empty \(0 bytes\)"),
    ],
    ids=["truncated", "not-an-image", "empty"],
)
@pytest.mark.parametrize("image_size", [None, (16, 16)])
def test_a_damaged_png_is_named_before_any_batch(tmp_path, damage, pattern, image_size):
    bad = png_tree(tmp_path)
    damage(bad)
    with pytest.raises(ValueError) as info:
        tfls.data.load(str(tmp_path), "test", batch_size=2, image_size=image_size)
    one_line(info, re.escape(str(bad)), pattern)


def test_a_truncated_jpeg_is_named(tmp_path):
    png_tree(tmp_path)
    to_jpeg(tmp_path)
    bad = tmp_path / "test" / "cat" / "0002.jpg"
    cut(bad, 0.4)
    with pytest.raises(ValueError) as info:
        tfls.data.load_arrays(str(tmp_path), "test")
    one_line(
        info, re.escape(str(bad)), r"truncated: its JPEG data .* without the JPEG end marker ff d9"
    )


def test_bytes_after_the_jpeg_end_marker_are_accepted(tmp_path):
    png_tree(tmp_path)
    to_jpeg(tmp_path)
    padded = tmp_path / "test" / "cat" / "0000.jpg"
    padded.write_bytes(padded.read_bytes() + bytes(4096))  # some writers append data
    assert folder_source.image_defect(padded) is None
    x, y = tfls.data.load_arrays(str(tmp_path), "test")
    assert x.shape == (6, 32, 32, 3) and sorted(y.tolist()) == [0, 0, 0, 1, 1, 1]


def test_a_truncated_bmp_is_named(tmp_path):
    path = tmp_path / "x.bmp"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path)
    assert folder_source.image_defect(path) is None
    cut(path)
    assert re.match(
        r"is truncated: its BMP header declares \d+ bytes", folder_source.image_defect(path)
    )


def test_a_damaged_image_of_a_builtin_tree_is_named(tmp_path):
    # CIFAR-10 as an image-folder tree is decoded by PIL into the cache: the file is named too.
    make_image_tree(tmp_path / "cifar10", per_class={"train": 1, "test": 1})
    bad = tmp_path / "cifar10" / "test" / "cat" / "0000.png"
    cut(bad)
    with pytest.raises(ValueError) as info:
        tfls.data.load_arrays("cifar10", "test", data_dir=tmp_path)
    one_line(info, re.escape(str(bad)), r"does not decode")


def test_a_data_dir_that_is_a_file(tmp_path):
    path = tmp_path / "data.npz"
    path.write_bytes(b"")
    with pytest.raises(ValueError) as info:
        tfls.data.load_arrays("fashion_mnist", "test", data_dir=path)
    one_line(info, r"is a file, not a folder", re.escape(f"data_dir={path}"))


def test_a_tf_error_while_reading_a_pipeline_is_one_line(tmp_path, monkeypatch):
    # Damage no check before the first batch can see (bytes garbled inside the image data).
    bad = png_tree(tmp_path)
    monkeypatch.setattr(folder_source, "check_files", lambda files: None)
    data = bytearray(bad.read_bytes())
    data[60:120] = bytes(60)
    bad.write_bytes(bytes(data))
    with pytest.raises(ValueError) as info:
        tfls.data.load_arrays(str(tmp_path), "test")
    one_line(info, r"Reading batch 0 of `dataset` failed: ", r"Received: batch=0")
