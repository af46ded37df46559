"""Image-folder specs: `ROOT/<split>/<class>/*.png` (and a `.tar.gz` of it), any classes and size."""

from __future__ import annotations

import numpy as np
import pytest

import tfls.data
from tests.data.conftest import make_tar

# Written in this (unsorted) order: label indices must follow the sorted names instead.
CLASSES = ("zebra", "cat", "eagle", "ant", "dog")
SORTED = tuple(sorted(CLASSES))


def _write(path, image):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)


@pytest.fixture(scope="module")
def five_classes(tmp_path_factory):
    """5 classes of random 64x64 RGB PNGs: 4 per class in `test`, 2 in `val`; and a .tar.gz."""
    root = tmp_path_factory.mktemp("folder") / "pets"
    rng = np.random.default_rng(0)
    written = {}
    for split, n in (("test", 4), ("val", 2)):
        for c in CLASSES:
            for i in range(n):
                img = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
                _write(root / split / c / f"img{i:02d}.png", img)
                written[split, c, i] = img
    archive = root.parent / "pets.tar.gz"
    make_tar(root.parent, archive)  # the tree sits one folder down: pets/test/...
    return root, archive, written


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TFLS_CACHE_DIR", str(tmp_path / "cache"))


def _collect(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds], strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def _expected(written, split, n):
    """Round-robin over sorted classes: (images [0, 1], labels) in the order `load` gives."""
    order = [(c, i) for i in range(n) for c in SORTED]
    x = np.stack([written[split, c, i] for c, i in order]).astype(np.float32) / 255.0
    return x, np.array([SORTED.index(c) for c, _ in order], np.int32)


def test_info_reads_classes_shape_and_sizes(five_classes):
    root, _, _ = five_classes
    info = tfls.data.info(str(root))
    assert info.name == str(root.resolve())
    assert (info.num_classes, info.input_shape, info.class_names) == (5, (64, 64, 3), SORTED)
    assert dict(info.split_sizes) == {"test": 20, "val": 10}
    assert tfls.data.info(str(root), image_size=(32, 48)).input_shape == (32, 48, 3)


@pytest.mark.parametrize("source", ["folder", "archive"])
def test_images_labels_and_class_interleaved_order(five_classes, source):
    root, archive, written = five_classes
    spec = str(root if source == "folder" else archive)
    x, y = _collect(tfls.data.load(spec, "val", batch_size=3))
    want_x, want_y = _expected(written, "val", 2)
    assert x.dtype == np.float32 and y.dtype == np.int32 and x.shape == (10, 64, 64, 3)
    np.testing.assert_array_equal(y, want_y)  # 0 1 2 3 4 0 1 2 3 4: sorted folder names
    np.testing.assert_allclose(x, want_x, atol=1e-7)  # PNG is lossless: the exact pixels


def test_limit_and_slices_are_class_balanced_prefixes(five_classes):
    root, _, written = five_classes
    _, want_y = _expected(written, "test", 4)
    _, y = tfls.data.load_arrays(str(root), "test", limit=5)
    assert y.tolist() == [0, 1, 2, 3, 4]
    _, y = tfls.data.load_arrays(str(root), "test[:3]")
    np.testing.assert_array_equal(y, want_y[:3])
    _, y = tfls.data.load_arrays(str(root), "test[50%:]", limit=7)
    np.testing.assert_array_equal(y, want_y[10:17])
    with pytest.raises(ValueError, match="limit=21"):
        tfls.data.load(str(root), "test", batch_size=4, limit=21)
    with pytest.raises(ValueError, match="splits are test, val.*split='train'"):
        tfls.data.load(str(root), "train", batch_size=4)


def test_shuffle_is_seeded(five_classes):
    root, _, _ = five_classes

    def labels(seed):
        ds = tfls.data.load(str(root), "test", batch_size=8, shuffle=True, seed=seed)
        return [_collect(ds)[1].tolist() for _ in range(2)]

    a, b, c = labels(5), labels(5), labels(6)
    assert a == b and a[0] != a[1] and a[0] != c[0]
    assert sorted(a[0]) == sorted([0, 1, 2, 3, 4] * 4)


def test_image_size_centre_crops_then_resizes(tmp_path):
    # Left quarter red, middle half green, right quarter blue. A tall target (2:1) keeps the
    # centred 64x32 window, which is all green; a square one keeps everything.
    img = np.zeros((64, 64, 3), np.uint8)
    img[:, :16, 0] = img[:, 16:48, 1] = img[:, 48:, 2] = 255
    for split in ("test",):
        for c in ("a", "b"):
            _write(tmp_path / "t" / split / c / "0.png", img)
    x, _ = tfls.data.load_arrays(str(tmp_path / "t"), "test", image_size=(40, 20))
    assert x.shape == (2, 40, 20, 3)
    np.testing.assert_allclose(x[..., 1], 1.0, atol=1e-6)
    np.testing.assert_allclose(x[..., [0, 2]], 0.0, atol=1e-6)
    x, _ = tfls.data.load_arrays(str(tmp_path / "t"), "test", image_size=(32, 32))
    assert x.shape == (2, 32, 32, 3)
    np.testing.assert_allclose(x[0, :, 10:22, 1], 1.0, atol=1e-6)  # the middle stays green
    np.testing.assert_allclose(x[0, :, :6, 0], 1.0, atol=1e-6)  # the left edge stays red
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_mixed_sizes_are_refused_unless_image_size(tmp_path):
    rng = np.random.default_rng(1)
    _write(tmp_path / "m" / "test" / "a" / "0.png", rng.integers(0, 256, (64, 64, 3), np.uint8))
    _write(tmp_path / "m" / "test" / "b" / "0.png", rng.integers(0, 256, (40, 48, 3), np.uint8))
    spec = str(tmp_path / "m")
    assert tfls.data.info(spec).input_shape == (None, None, 3)
    with pytest.raises(ValueError) as err:
        tfls.data.load(spec, "test", batch_size=2)
    msg = str(err.value)
    assert "a/0.png is 64x64" in msg and "b/0.png is 48x40" in msg and "image_size" in msg
    assert "\n" not in msg
    x, y = tfls.data.load_arrays(spec, "test", image_size=(24, 24))
    assert x.shape == (2, 24, 24, 3) and y.tolist() == [0, 1]


def test_grayscale_folder_has_one_channel_and_hidden_entries_are_skipped(tmp_path):
    rng = np.random.default_rng(2)
    for c in ("0", "1", "2"):
        _write(tmp_path / "g" / "test" / c / "x.png", rng.integers(0, 256, (9, 7), np.uint8))
    # Hidden entries are no data: a notebook's checkpoint folder, a macOS AppleDouble file.
    _write(tmp_path / "g" / "test" / ".ipynb_checkpoints" / "x.png", np.zeros((9, 7), np.uint8))
    (tmp_path / "g" / "test" / "0" / "._x.png").write_bytes(b"\x00\x05\x16\x07")
    assert tfls.data.info(str(tmp_path / "g")).input_shape == (9, 7, 1)
    x, y = tfls.data.load_arrays(str(tmp_path / "g"), "test")
    assert x.shape == (3, 9, 7, 1) and y.tolist() == [0, 1, 2]


def test_one_class_no_images_and_a_split_folder_are_refused(tmp_path):
    rng = np.random.default_rng(3)
    _write(tmp_path / "one" / "test" / "cat" / "0.png", rng.integers(0, 256, (8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match=r"1 class folder \(cat\).*at least 2"):
        tfls.data.info(str(tmp_path / "one"))
    with pytest.raises(ValueError, match="holds class folders of images directly.*split='test'"):
        tfls.data.load(str(tmp_path / "one" / "test"), "test", batch_size=2)
    (tmp_path / "empty" / "test" / "cat").mkdir(parents=True)
    (tmp_path / "empty" / "test" / "cat" / "notes.txt").write_text("no images")
    with pytest.raises(ValueError, match="Found no images.*dataset="):
        tfls.data.load(str(tmp_path / "empty"), "test", batch_size=2)


def test_labels_agree_with_keras_image_dataset_from_directory(five_classes):
    """Keras reads the same layout class by class: same classes, same (image, label) pairs."""
    import keras

    root, _, _ = five_classes
    reference = keras.utils.image_dataset_from_directory(
        root / "val", shuffle=False, image_size=(64, 64), batch_size=None, verbose=False
    )
    ref_x = np.stack([x.numpy() for x, _ in reference]) / 255.0
    ref_y = np.array([int(y) for _, y in reference])
    x, y = tfls.data.load_arrays(str(root), "val")
    assert tuple(reference.class_names) == tfls.data.info(str(root)).class_names
    by_class = np.argsort(y, kind="stable")  # ours interleaved, Keras's grouped by class
    np.testing.assert_array_equal(y[by_class], ref_y)
    np.testing.assert_allclose(x[by_class], ref_x, atol=1e-5)
