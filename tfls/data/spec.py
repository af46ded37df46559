"""Dataset specs: what a `dataset` string names (a built-in, a TFDS dataset, a folder, an array file).

A spec is one of:
- a built-in name of `tfls.data.NAMES` (`mnist`, `fashion_mnist`, `cifar10`, `cifar100`);
- `tfds:NAME[:config]`, any TensorFlow Datasets image-classification dataset;
- the path of an image-folder tree `ROOT/<split>/<class>/*.png|jpg|jpeg|bmp|gif`, or of a
  `.tar`/`.tar.gz`/`.tgz` holding one;
- the path of a `.npz` holding `x` and `y`, of an `.npy` pair (`x.npy` + `y.npy`, or
  `NAME_x.npy` + `NAME_y.npy`, either file given), or of a folder holding `x.npy` and `y.npy`.

Split strings of folders and array files may carry a TFDS-style slice: `test[:100]`, `val[10%:]`.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from tfls.data.cache import is_archive
from tfls.data.registry import NAMES

KINDS = ("builtin", "tfds", "folder", "archive", "arrays")
_TFDS_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_TFDS_CONFIG = re.compile(r"^[A-Za-z0-9_.+-]+$")
_HELP = (
    f"one of {', '.join(NAMES)}, tfds:NAME[:config], an image-folder tree "
    "(ROOT/<split>/<class>/*.png) or a .tar/.tar.gz of one, a .npz, or an x.npy/y.npy pair"
)


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """A parsed dataset spec.

    Args:
        kind: one of `"builtin"`, `"tfds"`, `"folder"`, `"archive"`, `"arrays"`.
        name: the normalised spec string (`"cifar10"`, `"tfds:svhn_cropped"`, an absolute path).
        tfds_name: for `tfds`, the TFDS builder name (`"cifar10_corrupted/brightness_1"`).
        path: for the path kinds, the resolved path (for an `.npy` pair, its `x` file).
    """

    kind: str
    name: str
    tfds_name: str | None = None
    path: Path | None = None


def _refuse(text, why: str) -> ValueError:
    return ValueError(f"{why}; expected {_HELP}. Received: dataset={text!r}")


def parse_spec(text) -> DatasetSpec:
    """Parses a dataset spec string (see the module docstring); reads no data.

    Raises:
        ValueError: in one line, naming the spec, when it names nothing tfls can read: an empty
            string, `tfds:` without a name, a path that does not exist, a file of another kind.

    Example:
        >>> tfls.data.parse_spec("tfds:cifar10_corrupted:brightness_1").tfds_name
        'cifar10_corrupted/brightness_1'
    """
    if isinstance(text, DatasetSpec):
        return text
    if isinstance(text, Path):
        text = str(text)
    if not isinstance(text, str):
        raise _refuse(text, "A dataset spec must be a string")
    spec = text.strip()
    if not spec:
        raise _refuse(text, "The dataset spec is empty")
    if spec in NAMES:
        return DatasetSpec("builtin", spec)
    if spec.startswith("tfds:"):
        name, _, config = spec[len("tfds:") :].partition(":")
        if not _TFDS_NAME.match(name) or (config and not _TFDS_CONFIG.match(config)):
            raise _refuse(text, "`tfds:` must be followed by a TFDS name, e.g. tfds:svhn_cropped")
        tfds_name = f"{name}/{config}" if config else name
        return DatasetSpec("tfds", f"tfds:{name}:{config}" if config else f"tfds:{name}", tfds_name)
    path = Path(spec).expanduser()
    if not path.exists():
        hint = (
            f" (for the TFDS dataset, write tfds:{spec})"
            if _TFDS_NAME.match(spec) and spec.lower() == spec
            else ""
        )
        raise _refuse(text, f"No built-in dataset or existing path is called {spec!r}{hint}")
    path = path.resolve()
    if path.is_dir():
        if (path / "x.npy").is_file() and (path / "y.npy").is_file():
            return DatasetSpec("arrays", str(path), path=path / "x.npy")
        return DatasetSpec("folder", str(path), path=path)
    if is_archive(path):
        return DatasetSpec("archive", str(path), path=path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return DatasetSpec("arrays", str(path), path=path)
    if suffix == ".npy":
        x_file, y_file = npy_pair(path)
        if not y_file.is_file():
            raise _refuse(text, f"The .npy labels file {y_file} beside {x_file} does not exist")
        return DatasetSpec("arrays", str(x_file), path=x_file)
    raise _refuse(text, f"{path.name} is neither a folder, a .tar/.tar.gz/.tgz, a .npz nor a .npy")


def npy_pair(path: Path) -> tuple[Path, Path]:
    """The `(x, y)` files of an `.npy` pair given either one: `x.npy`/`y.npy` or `NAME_x`/`NAME_y`."""
    stem = path.stem
    for x_tag, y_tag in (("x", "y"), ("X", "Y")):
        for own, other, is_x in ((x_tag, y_tag, True), (y_tag, x_tag, False)):
            if stem == own or stem.endswith("_" + own):
                sibling = path.with_name(stem[: len(stem) - len(own)] + other + path.suffix)
                return (path, sibling) if is_x else (sibling, path)
    raise ValueError(
        f"An .npy dataset is a pair named x.npy/y.npy or NAME_x.npy/NAME_y.npy; {path.name} is "
        f"neither. Received: dataset={str(path)!r}"
    )


_SPLIT = re.compile(r"^([^\[\]]+?)(?:\[\s*(-?\d+%?)?\s*:\s*(-?\d+%?)?\s*\])?$")


def parse_split(split) -> tuple[str, slice]:
    """Splits `"test[:100]"` into `("test", slice(None, 100))`; percents become fractions.

    A percent bound `p%` is kept as the string `"p%"` and resolved by `slice_bounds` once the split
    size is known (rounded to the closest example, as TFDS does).
    """
    if not isinstance(split, str) or not _SPLIT.match(split.strip()):
        raise ValueError(
            f"A split is a name with an optional slice, e.g. test, val, test[:100] or "
            f"train[10%:]. Received: split={split!r}"
        )
    name, start, stop = _SPLIT.match(split.strip()).groups()
    return name.strip(), slice(start, stop)


def slice_bounds(part: slice, n: int) -> range:
    """The indices of `part` (from `parse_split`) in a split of `n` examples."""

    def bound(b):
        if b is None:
            return None
        if b.endswith("%"):
            return round(int(b[:-1]) * n / 100)
        return int(b)

    return range(n)[slice(bound(part.start), bound(part.stop))]
