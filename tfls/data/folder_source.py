"""Image-folder datasets: `ROOT/<split>/<class>/*.png|jpg|jpeg|bmp|gif`, streamed from the files.

Class indices are the sorted class-folder names (the Keras and torchvision convention), taken over
every split folder so that a class missing from one split does not shift the others. Examples are
ordered round-robin over classes (files sorted by name within a class), so a `limit` prefix is
class-balanced. Hidden entries (`.name`) and `__MACOSX/` are skipped. Images are decoded by
`tf.io.decode_image` inside a `tf.data` pipeline, a batch at a time, so a split of large images
never sits in memory whole.

`keras.utils.image_dataset_from_directory` reads the same layout but is not used: it orders
examples class by class (a `limit` prefix would hold one class), always resizes (there is no
native size), and labels each split from its own folders.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfls.data import cache
from tfls.data.image_folder import IMAGE_SUFFIXES, interleave
from tfls.data.spec import parse_split, slice_bounds

_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")
_LAYOUT = "ROOT/<split>/<class>/*.png|jpg|jpeg|bmp|gif"


def _hidden(path: Path) -> bool:
    # `.ipynb_checkpoints/`, AppleDouble `._x.png` files, an archive's `__MACOSX/` are no data.
    return path.name.startswith(".") or path.name == "__MACOSX"


def _subdirs(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not _hidden(p))
    except OSError:
        return []


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not _hidden(path) and path.is_file()


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if _is_image(p))


def _has_images(folder: Path) -> bool:
    return any(_is_image(p) for p in folder.iterdir())


def _is_root(folder: Path) -> bool:
    return any(_has_images(c) for s in _subdirs(folder) for c in _subdirs(s))


def find_root(spec_kind: str, path: Path) -> Path:
    """The tree root of a folder spec, or of an archive (unpacked once into the tfls cache; the
    tree may sit at its top or one or two folders down)."""
    if spec_kind == "archive":
        top = cache.unpack_once(path)
        candidates = [top] + _subdirs(top)
        candidates += [q for p in candidates[1:] for q in _subdirs(p)]
        for folder in candidates:
            if _is_root(folder):
                return folder
        raise ValueError(
            f"Found no images laid out as {_LAYOUT} in archive {path.name}. "
            f"Received: dataset={str(path)!r}"
        )
    if _is_root(path):
        return path
    if any(_has_images(c) for c in _subdirs(path)):
        raise ValueError(
            f"{path} holds class folders of images directly, but a dataset folder holds split "
            f"folders ({_LAYOUT}): pass its parent {path.parent} with split={path.name!r}. "
            f"Received: dataset={str(path)!r}"
        )
    raise ValueError(
        f"Found no images laid out as {_LAYOUT} in {path}. Received: dataset={str(path)!r}"
    )


def splits(root: Path) -> list[str]:
    return [s.name for s in _subdirs(root) if any(_has_images(c) for c in _subdirs(s))]


def class_names(root: Path) -> tuple[str, ...]:
    """Sorted class-folder names over every split; at least two."""
    names = sorted({c.name for s in splits(root) for c in _subdirs(root / s)})
    if len(names) < 2:
        raise ValueError(
            f"Image folder {root} has {len(names)} class folder ({', '.join(names)}); a "
            f"classifier needs at least 2 ({_LAYOUT}). Received: dataset={str(root)!r}"
        )
    return tuple(names)


def split_sizes(root: Path) -> tuple[tuple[str, int], ...]:
    """Image files in each split (a listing, nothing opened)."""
    return tuple((s, sum(len(_images(c)) for c in _subdirs(root / s))) for s in splits(root))


def _header(path: Path) -> tuple[tuple[int, int], str]:
    """`((height, width), PIL mode)` from the file header, without decoding the pixels."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return (im.height, im.width), im.mode
    except OSError as e:
        raise ValueError(f"Could not read image {path}: {e}. Received: path={str(path)!r}") from e


def _info_split(root: Path) -> str:
    names = splits(root)
    return next((s for s in ("test", "val", "validation") if s in names), names[0])


def read_info(root: Path) -> tuple[tuple[str, ...], tuple]:
    """`(class_names, (h, w, c) or (None, None, c))` from the first image of each class of one
    split (`test`, `val`, `validation` or the first): fast, decodes nothing.

    Channels are 1 when those images are all grayscale, else 3 (alpha is dropped).
    """
    names = class_names(root)
    split_dir = root / _info_split(root)
    firsts = []
    for c in names:
        firsts += _images(split_dir / c)[:1] if (split_dir / c).is_dir() else []
    headers = [_header(p) for p in firsts]
    channels = 1 if all(mode in _GRAY_MODES for _, mode in headers) else 3
    sizes = {size for size, _ in headers}
    h, w = sizes.pop() if len(sizes) == 1 else (None, None)
    return names, (h, w, channels)


def examples(root: Path, split: str, names: tuple[str, ...]) -> tuple[list[Path], np.ndarray]:
    """`(files, int32 labels)` of `split` (a slice allowed), in class-interleaved order."""
    name, part = parse_split(split)
    available = splits(root)
    if name not in available:
        raise ValueError(
            f"Image folder {root} has no split {name!r}; its splits are "
            f"{', '.join(available)}. Received: split={split!r}"
        )
    per_class = [
        [(f, label) for f in _images(root / name / c)] if (root / name / c).is_dir() else []
        for label, c in enumerate(names)
    ]
    ordered = interleave(per_class)
    keep = slice_bounds(part, len(ordered))
    if len(keep) == 0:
        raise ValueError(f"The slice {split!r} of {root} is empty. Received: split={split!r}")
    ordered = [ordered[i] for i in keep]
    return [f for f, _ in ordered], np.asarray([label for _, label in ordered], np.int32)


# The first bytes of each format `tf.io.decode_image` reads, and the bytes its data ends with.
_SIGNATURES = {
    "PNG": (b"\x89PNG\r\n\x1a\n",),
    "JPEG": (b"\xff\xd8\xff",),
    "GIF": (b"GIF87a", b"GIF89a"),
    "BMP": (b"BM",),
}
_END_MARKERS = {"PNG": b"IEND\xaeB`\x82", "JPEG": b"\xff\xd9", "GIF": b"\x3b"}
_TAIL = 1024  # bytes searched for the end marker: room for padding some writers append


def image_defect(path: Path) -> str | None:
    """What is wrong with an image file, from its first and last bytes; None if nothing is.

    An empty file, bytes of no image format, and a file cut short (its format's end marker
    missing from its tail, or a BMP shorter than its header says) are defects; a suspected
    truncation is confirmed by decoding the file (so padding after the marker passes).
    """
    size = path.stat().st_size
    if size == 0:
        return "is empty (0 bytes)"
    with open(path, "rb") as f:
        head = f.read(26)
        f.seek(max(0, size - _TAIL))
        tail = f.read()
    kind = next((k for k, sigs in _SIGNATURES.items() if head.startswith(sigs)), None)
    if kind is None:
        return f"is no PNG, JPEG, GIF or BMP image (it starts with {head[:8]!r})"
    if kind == "BMP":
        declared = int.from_bytes(head[2:6], "little")
        if len(head) < 26 or declared > size:
            return f"is truncated: its BMP header declares {declared} bytes, the file has {size}"
        return None
    if _END_MARKERS[kind] in tail:
        return None
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
    except (OSError, SyntaxError, ValueError) as e:
        return (
            f"is truncated: its {kind} data ends after {size} bytes without the {kind} end "
            f"marker {_END_MARKERS[kind].hex(' ')} and does not decode ({e})"
        )
    return None


def check_files(files: list[Path]) -> None:
    """Refuses the first damaged image of `files` (`image_defect`), naming it and its defect,
    before any is decoded: a `tf.data` pipeline would only fail at that file's batch."""
    for f in files:
        try:
            defect = image_defect(f)
        except OSError as e:
            defect = f"cannot be read ({e.strerror or e})"
        if defect is not None:
            raise ValueError(f"Image file {f} {defect}. Received: path={str(f)!r}")


def check_same_size(files: list[Path]) -> tuple[int, int]:
    """The common `(height, width)` of `files`; refuses mixed sizes naming two files."""
    first, (size, _) = files[0], _header(files[0])
    for f in files[1:]:
        other, _ = _header(f)
        if other != size:
            raise ValueError(
                f"Images differ in size: {first} is {size[1]}x{size[0]} but {f} is "
                f"{other[1]}x{other[0]} (width x height); pass image_size=(height, width) to "
                f"resize them. Received: image_size=None"
            )
    return size


def file_dataset(
    files: list[Path],
    labels: np.ndarray,
    *,
    channels: int,
    image_size: tuple[int, int] | None,
    batch_size: int,
    shuffle: bool,
    seed: int,
):
    """The batched `tf.data` pipeline decoding `files` (float32 `[0, 1]` images, int32 labels)."""
    import tensorflow as tf

    from tfls.data.batch_buffers import map_batches, prefetch
    from tfls.data.resize import fit

    check_files(files)
    size = check_same_size(files) if image_size is None else None
    ds = tf.data.Dataset.from_tensor_slices(([str(f) for f in files], labels))
    if shuffle:  # a shuffle of file names: cheap over the whole split
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)

    def decode(path, label):
        image = tf.io.decode_image(
            tf.io.read_file(path), channels=channels, expand_animations=False, dtype=tf.uint8
        )
        if image_size is not None:
            return fit(tf.cast(image, tf.float32) / 255.0, image_size), label
        return tf.ensure_shape(image, (*size, channels)), label

    def to_float(images, batch_labels):
        return tf.cast(images, tf.float32) / 255.0, batch_labels

    # Native-size images stay uint8 until batched: the buffers of the parallel decode hold a
    # quarter of the bytes float32 would.
    shape = (*(image_size or size), channels)
    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size)
    if image_size is None:
        ds = map_batches(ds, to_float, batch_size=batch_size, image_shape=shape)
    return prefetch(ds, batch_size=batch_size, image_shape=shape)
