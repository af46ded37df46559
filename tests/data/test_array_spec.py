"""Array-file specs: a `.npz` with `x`/`y` (and `class_names`), or an `.npy` pair; one split, `test`."""

from __future__ import annotations

import numpy as np
import pytest

import tfls.data


def _collect(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds], strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def test_uint8_npz_reads_back_exactly(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (11, 6, 5, 3), dtype=np.uint8)
    y = np.array([0, 3, 1, 2, 0, 3, 1, 2, 0, 3, 1])
    np.savez(tmp_path / "d.npz", x=x, y=y)
    spec = str(tmp_path / "d.npz")
    info = tfls.data.info(spec)
    assert (info.name, info.num_classes, info.input_shape) == (spec, 4, (6, 5, 3))
    assert info.class_names == ("0", "1", "2", "3") and info.split_sizes == (("test", 11),)
    got_x, got_y = _collect(tfls.data.load(spec, "test", batch_size=4))
    assert got_x.dtype == np.float32 and got_y.dtype == np.int32
    np.testing.assert_allclose(got_x, x / 255.0, atol=1e-7)
    np.testing.assert_array_equal(got_y, y)
    got_x, got_y = tfls.data.load_arrays(spec, "test[2:]", limit=3)
    np.testing.assert_allclose(got_x, x[2:5] / 255.0, atol=1e-7)
    np.testing.assert_array_equal(got_y, y[2:5])


def test_float_grayscale_npz_with_class_names(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.random((6, 4, 4)).astype(np.float64)
    y = np.array([0, 1, 0, 1, 0, 1], np.int64)
    np.savez(tmp_path / "g.npz", x=x, y=y, class_names=np.array(["no", "yes", "maybe"]))
    info = tfls.data.info(str(tmp_path / "g.npz"))
    assert (info.num_classes, info.input_shape) == (3, (4, 4, 1))  # 3 names, though max(y) = 1
    assert info.class_names == ("no", "yes", "maybe")
    got_x, got_y = tfls.data.load_arrays(str(tmp_path / "g.npz"), "test")
    assert got_x.shape == (6, 4, 4, 1) and got_x.dtype == np.float32
    np.testing.assert_allclose(got_x[..., 0], x, atol=1e-7)  # floats are kept, not divided
    resized, _ = tfls.data.load_arrays(str(tmp_path / "g.npz"), "test", image_size=(2, 2))
    assert resized.shape == (6, 2, 2, 1)


@pytest.mark.parametrize("layout", ["named_pair", "y_given", "folder"])
def test_npy_pairs_are_memory_mapped(tmp_path, layout):
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, (9, 5, 5, 1), dtype=np.uint8)
    y = np.arange(9) % 3
    if layout == "folder":
        (tmp_path / "set").mkdir()
        np.save(tmp_path / "set" / "x.npy", x)
        np.save(tmp_path / "set" / "y.npy", y)
        spec = tmp_path / "set"
    else:
        np.save(tmp_path / "val_x.npy", x)
        np.save(tmp_path / "val_y.npy", y)
        spec = tmp_path / ("val_x.npy" if layout == "named_pair" else "val_y.npy")
    assert tfls.data.info(str(spec)).num_classes == 3
    got_x, got_y = _collect(tfls.data.load(str(spec), "test", batch_size=4, shuffle=True, seed=3))
    order = np.argsort(got_y * 100 + np.arange(9))  # any permutation; recover it from labels
    assert sorted(got_y.tolist()) == sorted(y.tolist())
    for img, label in zip(got_x[order], got_y[order], strict=True):
        matches = [i for i in range(9) if np.allclose(img, x[i] / 255.0, atol=1e-7)]
        assert len(matches) == 1 and y[matches[0]] == label  # each image keeps its label


def test_shuffle_is_seeded_and_reshuffles_each_epoch(tmp_path):
    np.savez(tmp_path / "s.npz", x=np.arange(30, dtype=np.uint8).reshape(30, 1, 1), y=np.arange(30))

    def orders(seed):
        ds = tfls.data.load(str(tmp_path / "s.npz"), "test", batch_size=7, shuffle=True, seed=seed)
        return [_collect(ds)[1].tolist() for _ in range(2)]

    a, b, c = orders(1), orders(1), orders(2)
    assert a == b and a[0] != a[1] and a[0] != c[0] and sorted(a[0]) == list(range(30))


def _save(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


@pytest.mark.parametrize(
    "arrays,split,match",
    [
        (dict(images=np.zeros((2, 3, 3), np.uint8), y=[0, 1]), "test", r"\['images', 'y'\].*`x`"),
        (dict(x=np.zeros((2, 3, 3), np.uint8)), "test", "needs `x`.*and `y`"),
        (dict(x=np.zeros((3, 3, 3), np.uint8), y=[0, 1]), "test", "len\\(x\\)=3, len\\(y\\)=2"),
        (dict(x=np.full((2, 3, 3), 255.0), y=[0, 1]), "test", r"\[0, 1\].*x in \[255, 255\]"),
        (dict(x=np.full((2, 3, 3), -0.5), y=[0, 1]), "test", r"x in \[-0.5, -0.5\]"),
        (dict(x=np.array([[[0.5]], [[np.nan]]]), y=[0, 1]), "test", r"NaN.*x\[1\]"),
        (dict(x=np.zeros((2, 3, 3), np.uint8), y=[0, -1]), "test", r"y.min\(\)=-1"),
        (dict(x=np.zeros((2, 3, 3), np.uint8), y=[0, 2], class_names=["a", "b"]), "test",
         r"< 2.*y.max\(\)=2"),
        (dict(x=np.zeros((2, 3, 3), np.uint8), y=[0.0, 1.0]), "test", "integer labels"),
        (dict(x=np.zeros((2, 3, 3), np.int64), y=[0, 1]), "test", "uint8.*x.dtype=int64"),
        (dict(x=np.zeros((2, 3), np.uint8), y=[0, 1]), "test", r"x.shape=\(2, 3\)"),
        (dict(x=np.zeros((2, 3, 3), np.uint8), y=[0, 1]), "train", "pass split='test'"),
    ],
)  # fmt: skip
def test_bad_array_files_are_refused_in_one_line(tmp_path, arrays, split, match):
    spec = _save(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=match) as err:
        tfls.data.load(spec, split, batch_size=2)
    assert "\n" not in str(err.value)


def test_large_batches_take_the_serial_path_with_the_same_values(tmp_path):
    from tfls.data.batch_buffers import is_large

    rng = np.random.default_rng(4)
    x = rng.integers(0, 256, (3, 300, 300, 3), dtype=np.uint8)
    np.savez(tmp_path / "big.npz", x=x, y=[0, 1, 2])
    assert is_large(64, (300, 300, 3)) and not is_large(64, (32, 32, 3))
    assert is_large(1, (None, None, 3))
    got, y = _collect(tfls.data.load(str(tmp_path / "big.npz"), "test", batch_size=64))
    np.testing.assert_allclose(got, x / 255.0, atol=1e-7)
    assert y.tolist() == [0, 1, 2]
