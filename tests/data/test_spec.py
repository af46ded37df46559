"""`tfls.data.parse_spec`, split slices and `image_size`: what a dataset string names, read no data."""

from __future__ import annotations

import numpy as np
import pytest

import tfls.data
from tfls.data.resize import check_image_size
from tfls.data.spec import parse_split, slice_bounds


@pytest.mark.parametrize("name", tfls.data.NAMES)
def test_builtin_names_stay_builtin(name):
    spec = tfls.data.parse_spec(name)
    assert (spec.kind, spec.name) == ("builtin", name)


@pytest.mark.parametrize(
    "text,name,tfds_name",
    [
        ("tfds:svhn_cropped", "tfds:svhn_cropped", "svhn_cropped"),
        (" tfds:cifar10_corrupted:brightness_1", "tfds:cifar10_corrupted:brightness_1",
         "cifar10_corrupted/brightness_1"),
    ],
)  # fmt: skip
def test_tfds_specs(text, name, tfds_name):
    spec = tfls.data.parse_spec(text)
    assert (spec.kind, spec.name, spec.tfds_name) == ("tfds", name, tfds_name)


def test_path_specs_are_resolved_by_kind(tmp_path, monkeypatch):
    (tmp_path / "tree").mkdir()
    (tmp_path / "a.npz").write_bytes(b"")
    (tmp_path / "b.tar.gz").write_bytes(b"")
    (tmp_path / "set_x.npy").write_bytes(b"")
    (tmp_path / "set_y.npy").write_bytes(b"")
    (tmp_path / "pair").mkdir()
    (tmp_path / "pair" / "x.npy").write_bytes(b"")
    (tmp_path / "pair" / "y.npy").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    got = {
        text: (s.kind, s.path)
        for text in ("tree", "a.npz", "b.tar.gz", "set_y.npy", "pair")
        for s in [tfls.data.parse_spec(text)]
    }
    assert got == {
        "tree": ("folder", tmp_path / "tree"),
        "a.npz": ("arrays", tmp_path / "a.npz"),
        "b.tar.gz": ("archive", tmp_path / "b.tar.gz"),
        "set_y.npy": ("arrays", tmp_path / "set_x.npy"),  # either file of the pair names it
        "pair": ("arrays", tmp_path / "pair" / "x.npy"),
    }
    assert tfls.data.parse_spec("tree").name == str(tmp_path / "tree")  # normalised: absolute


@pytest.mark.parametrize(
    "text,match",
    [
        ("", "empty.*dataset=''"),
        ("   ", "empty.*dataset='   '"),
        ("tfds:", "tfds:svhn_cropped.*dataset='tfds:'"),
        ("tfds:two words", "dataset='tfds:two words'"),
        ("svhn", "tfds:svhn.*dataset='svhn'"),
        ("no/such/folder", "dataset='no/such/folder'"),
        (3, "dataset=3"),
    ],
)
def test_specs_that_name_nothing_are_refused_in_one_line(text, match):
    with pytest.raises(ValueError, match=match) as err:
        tfls.data.parse_spec(text)
    assert "\n" not in str(err.value)


def test_files_of_another_kind_are_refused(tmp_path):
    for name, match in (("notes.txt", "notes.txt is neither"), ("w.npy", "x.npy/y.npy")):
        (tmp_path / name).write_bytes(b"")
        with pytest.raises(ValueError, match=match):
            tfls.data.parse_spec(str(tmp_path / name))
    (tmp_path / "only_x.npy").write_bytes(b"")
    with pytest.raises(ValueError, match="only_y.npy.*does not exist"):
        tfls.data.parse_spec(str(tmp_path / "only_x.npy"))


@pytest.mark.parametrize(
    "split,n,expected",
    [
        ("test", 10, range(10)),
        ("test[:3]", 10, range(3)),
        ("val[7:]", 10, range(7, 10)),
        ("train[10%:30%]", 10, range(1, 3)),
        ("test[-2:]", 10, range(8, 10)),
    ],
)
def test_split_slices(split, n, expected):
    _, part = parse_split(split)
    assert list(slice_bounds(part, n)) == list(expected)


@pytest.mark.parametrize("split", ["", "test[:", "test[a:b]", None])
def test_bad_split_strings(split):
    with pytest.raises(ValueError, match="split="):
        parse_split(split)


def test_image_size_is_checked():
    assert check_image_size(None) is None
    assert check_image_size((224, 160)) == (224, 160)
    assert check_image_size(np.int64(32)) == (32, 32)
    for bad in ((0, 3), (2.5, 3), "224", (1, 2, 3), True):
        with pytest.raises(ValueError, match="image_size="):
            check_image_size(bad)
