"""Finds a dataset on disk (or in TFDS) and reads one split into uint8 numpy arrays.

Search order: `data_dir` (or `$TFLS_DATA_DIR`) in every standard offline layout, then Debian's
`/usr/share/datasets/fashion-mnist`, then TensorFlow Datasets. The first hit wins; if nothing
matches, one error lists every place tried and how to provide the data.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from tfls.data import cache, cifar_pickle, idx, image_folder
from tfls.data.registry import DatasetInfo
from tfls.data.tfds_source import DOWNLOAD_ENV, tfds_arrays

DATA_DIR_ENV = "TFLS_DATA_DIR"
DEBIAN_DIRS = {"fashion_mnist": Path("/usr/share/datasets/fashion-mnist")}

# File/folder names that belong to each dataset (`cifar10` must not match `cifar100...`).
_ALIASES = {
    "mnist": re.compile(r"^mnist(?![a-z0-9])", re.I),
    "fashion_mnist": re.compile(r"^fashion[-_]?mnist(?![a-z0-9])", re.I),
    "cifar10": re.compile(r"^cifar[-_]?10(?![0-9])", re.I),
    "cifar100": re.compile(r"^cifar[-_]?100(?![0-9])", re.I),
}

Arrays = tuple[np.ndarray, np.ndarray, str]


def resolve_data_dir(data_dir) -> Path | None:
    """`data_dir` if given, else `$TFLS_DATA_DIR`, else None; a given folder must exist."""
    if data_dir is not None:
        path = Path(data_dir).expanduser()
        if path.exists() and not path.is_dir():
            raise ValueError(
                f"Data directory is a file, not a folder: pass the folder holding the data. "
                f"Received: data_dir={data_dir}"
            )
        if not path.is_dir():
            raise FileNotFoundError(f"Data directory does not exist. Received: data_dir={data_dir}")
        return path
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        path = Path(env).expanduser()
        if path.exists() and not path.is_dir():
            raise ValueError(
                f"${DATA_DIR_ENV} points to a file, not a folder. Received: {DATA_DIR_ENV}={env}"
            )
        if not path.is_dir():
            raise FileNotFoundError(
                f"${DATA_DIR_ENV} points to a missing directory. Received: {DATA_DIR_ENV}={env}"
            )
        return path
    return None


def _children(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError:
        return []


def _matches(path: Path, name: str) -> bool:
    return bool(_ALIASES[name].match(path.name))


def _from_idx(folder: Path, ds: DatasetInfo, split: str) -> Arrays | None:
    pair = idx.find_idx_pair(folder, split)
    if pair is None:
        return None
    x, y = idx.load_idx(*pair)
    return x, y, f"IDX files {pair[0]} and {pair[1].name}"


def _from_pickle(folder: Path, ds: DatasetInfo, split: str) -> Arrays | None:
    files = cifar_pickle.batch_files(folder, ds.name, split)
    if files is None:
        return None
    x, y = cifar_pickle.load_batches(files, ds.name)
    return x, y, f"CIFAR python batches in {folder}"


def _from_tree(root: Path, ds: DatasetInfo, split: str, key: tuple) -> Arrays | None:
    """Decodes an image-folder tree once; later loads read the cached `.npz`."""
    npz = cache.cache_dir() / "arrays" / f"{ds.name}-{split}-{cache.fingerprint(*key)}.npz"
    hit = cache.load_npz(npz)
    if hit is not None:
        return hit[0], hit[1], f"image folders {root / split} (decoded cache {npz})"
    examples = image_folder.list_examples(root, split, ds.class_names)
    if not examples:
        return None
    x, y = image_folder.decode_examples(examples, ds.input_shape)
    cache.save_npz(npz, x, y)
    return x, y, f"image folders {root / split}"


def _tree_key(root: Path, split: str) -> tuple:
    # Adding or removing a file changes its class folder's mtime, so this key notices edits.
    split_dir = root / split
    return (str(split_dir.resolve()),) + tuple(
        (p.name, p.stat().st_mtime_ns) for p in _children(split_dir) if p.is_dir()
    )


def _tree_fits(root: Path, ds: DatasetInfo, split: str, named: bool) -> bool:
    """A tree is this dataset's when it has its number of classes, and its folder is named after
    the dataset or its class folders carry the dataset's class names."""
    if not image_folder.is_tree(root, split):
        return False
    classes = [p.name for p in _children(root / split) if p.is_dir()]
    if len(classes) != ds.num_classes:
        return False
    known = {image_folder.normalize_class_name(c) for c in ds.class_names}
    return named or all(image_folder.normalize_class_name(c) in known for c in classes)


def _search_folder(
    folder: Path, ds: DatasetInfo, split: str, looked: list[str], *, named: bool
) -> Arrays | None:
    """Tries every offline layout directly inside `folder`."""
    if ds.name in idx.FOLDERS:
        for sub in idx.candidate_folders(folder, ds.name):
            found = _from_idx(sub, ds, split)
            if found:
                return found
    if ds.name in cifar_pickle.FOLDERS:
        for sub in (folder / cifar_pickle.FOLDERS[ds.name], folder):
            found = _from_pickle(sub, ds, split)
            if found:
                return found
    if _tree_fits(folder, ds, split, named):
        return _from_tree(folder, ds, split, _tree_key(folder, split))
    return None


def _search_archive(archive: Path, ds: DatasetInfo, split: str, looked: list[str]) -> Arrays | None:
    # The cached arrays are keyed by the archive itself, so a second load skips the unpacked tree.
    key = ("archive",) + cache.file_stamp(archive)
    npz = cache.cache_dir() / "arrays" / f"{ds.name}-{split}-{cache.fingerprint(*key)}.npz"
    hit = cache.load_npz(npz)
    if hit is not None:
        return hit[0], hit[1], f"archive {archive} (decoded cache {npz})"
    root = cache.unpack_once(archive)
    # The tree may sit at the top of the archive or one or two folders down.
    candidates = [root] + [p for p in _children(root) if p.is_dir()]
    candidates += [q for p in candidates[1:] for q in _children(p) if q.is_dir()]
    for folder in candidates:
        if image_folder.is_tree(folder, split):
            found = _from_tree(folder, ds, split, key)  # writes `npz` itself
        else:
            found = _search_folder(folder, ds, split, looked, named=True)
            if found:  # IDX or pickle files inside an archive: cache them too
                cache.save_npz(npz, found[0], found[1])
        if found:
            return found[0], found[1], f"archive {archive} ({found[2]})"
    return None


def _search_data_dir(folder: Path, ds: DatasetInfo, split: str, looked: list[str]) -> Arrays | None:
    found = _search_folder(folder, ds, split, looked, named=_matches(folder, ds.name))
    if found:
        return found
    for child in _children(folder):
        if not _matches(child, ds.name):
            continue
        if child.is_dir():
            found = _search_folder(child, ds, split, looked, named=True)
            # A release folder may hold one more level, e.g. cifar10/cifar10/train/...
            for grandchild in _children(child) if not found else []:
                if grandchild.is_dir() and image_folder.is_tree(grandchild, split):
                    found = _search_folder(grandchild, ds, split, looked, named=True)
                    if found:
                        break
        elif cache.is_archive(child):
            found = _search_archive(child, ds, split, looked)
        if found:
            return found
    looked.append(_describe_layouts(folder, ds))
    return None


def _describe_layouts(folder: Path, ds: DatasetInfo) -> str:
    if ds.name in idx.FOLDERS:
        layouts = (
            f"IDX files (train-images-idx3-ubyte.gz, ...) in {folder} or "
            f"{folder}/{idx.FOLDERS[ds.name][0]}/"
        )
    else:
        layouts = f"{folder}/{cifar_pickle.FOLDERS[ds.name]}/ (python batches)"
    alias = {"cifar10": "cifar10", "cifar100": "cifar100"}.get(ds.name, ds.name.replace("_", "-"))
    return (
        f"{layouts}; image folders {folder}/{alias}/<split>/<class>/*.png|jpg; "
        f"archives {folder}/{alias}*.tar[.gz] of any of these"
    )


def read_arrays(ds: DatasetInfo, split: str, data_dir) -> Arrays:
    """Returns `(uint8 images [N, H, W, C], int32 labels [N], where-from)` of one split.

    Raises:
        FileNotFoundError: no source holds the dataset; the message lists every place tried.
    """
    looked: list[str] = []
    folder = resolve_data_dir(data_dir)
    if folder is not None:
        found = _search_data_dir(folder, ds, split, looked)
        if found:
            return _checked(found, ds)
    else:
        looked.append(
            f"no data_dir given and ${DATA_DIR_ENV} unset; such a folder may hold "
            + _describe_layouts(Path("<data_dir>"), ds)
        )
    debian = DEBIAN_DIRS.get(ds.name)
    if debian is not None:
        found = _from_idx(debian, ds, split) if debian.is_dir() else None
        if found:
            return _checked(found, ds)
        looked.append(f"{debian} (Debian package dataset-{ds.name.replace('_', '-')})")
    found = tfds_arrays(ds.name, split, folder, looked)
    if found:
        return _checked(found, ds)
    places = "\n  - ".join(looked)
    raise FileNotFoundError(
        f"Could not find dataset {ds.name!r} (split {split!r}). Looked in:\n  - {places}\n"
        f"Provide it by passing data_dir=... (CLI: --data-dir) or setting ${DATA_DIR_ENV} to a "
        f"folder holding one of the layouts listed above, or let TensorFlow Datasets download it "
        f"on a machine with a network (tfds.load({ds.name!r}); leave ${DOWNLOAD_ENV} unset)."
    )


def _checked(found: Arrays, ds: DatasetInfo) -> Arrays:
    x, y, where = found
    if x.shape[1:] != ds.input_shape:
        raise ValueError(
            f"Data found at {where} has images of shape {x.shape[1:]}, but {ds.name} images are "
            f"{ds.input_shape}. Received: shape={x.shape[1:]}"
        )
    if y.size and (y.min() < 0 or y.max() >= ds.num_classes):
        raise ValueError(
            f"Data found at {where} has labels in [{y.min()}, {y.max()}], but {ds.name} has "
            f"{ds.num_classes} classes. Received: labels in [{y.min()}, {y.max()}]"
        )
    return x, y, where
