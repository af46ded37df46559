"""Reader for image-folder trees: `root/<split>/<class>/*.jpg|png` (e.g. the CIFAR-10 JPEG copy)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
_CHUNK = 1024


def normalize_class_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def is_tree(root: Path, split: str) -> bool:
    """True when `root/<split>` exists and holds at least one class folder."""
    d = root / split
    return d.is_dir() and any(p.is_dir() for p in d.iterdir())


def class_index(folders: list[str], canonical: tuple[str, ...]) -> dict[str, int]:
    """Maps class-folder names to label indices.

    When every folder name is one of the dataset's canonical class names (compared without case
    and punctuation, so `t_shirt_top` matches `T-shirt/top`), the canonical label order is used,
    so `cifar10/train/airplane` is label 0 as in the original release. Otherwise the folders are
    numbered in sorted order (the torchvision/Keras convention).
    """
    lookup = {normalize_class_name(c): i for i, c in enumerate(canonical)}
    if folders and all(normalize_class_name(f) in lookup for f in folders):
        mapped = {f: lookup[normalize_class_name(f)] for f in folders}
        if len(set(mapped.values())) == len(folders):
            return mapped
    return {f: i for i, f in enumerate(sorted(folders))}


def list_examples(root: Path, split: str, canonical: tuple[str, ...]) -> list[tuple[Path, int]]:
    """Lists `(file, label)` of one split in a fixed, class-interleaved order.

    Files are sorted by name within each class, then taken round-robin over the classes
    (first file of class 0, of class 1, ..., second file of class 0, ...). The order is
    therefore deterministic and any prefix (`limit=N`) is class-balanced, like the shuffled
    original releases, instead of holding only airplanes.
    """
    split_dir = root / split
    folders = sorted(p.name for p in split_dir.iterdir() if p.is_dir())
    mapping = class_index(folders, canonical)
    per_class = []
    for folder in folders:
        files = sorted(
            p for p in (split_dir / folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
        )
        per_class.append([(f, mapping[folder]) for f in files])
    return interleave(per_class)


def interleave(per_class: list[list[tuple[Path, int]]]) -> list[tuple[Path, int]]:
    """Takes `(file, label)` lists round-robin: the first file of each class (by label), then
    the second of each, and so on; classes that run out drop out."""
    keyed = [
        ((rank, label), (f, label)) for files in per_class for rank, (f, label) in enumerate(files)
    ]
    keyed.sort(key=lambda kv: kv[0])
    return [v for _, v in keyed]


def decode_examples(
    examples: list[tuple[Path, int]], input_shape: tuple[int, int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Decodes image files into `(uint8 [N, H, W, C], int32 [N])`, checking each image's size."""
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image

    h, w, c = input_shape
    mode = {1: "L", 3: "RGB"}[c]
    x = np.empty((len(examples), h, w, c), np.uint8)
    y = np.fromiter((label for _, label in examples), np.int32, count=len(examples))

    def decode(start: int) -> None:
        for i in range(start, min(start + _CHUNK, len(examples))):
            path = examples[i][0]
            try:
                with Image.open(path) as im:
                    arr = np.asarray(im.convert(mode), dtype=np.uint8)
            except (OSError, SyntaxError, ValueError) as e:  # PIL's errors for a damaged file
                raise ValueError(
                    f"Image file {path} is damaged: it does not decode ({type(e).__name__}: "
                    f"{e}). Received: path={str(path)!r}"
                ) from None
            if arr.shape[:2] != (h, w):
                raise ValueError(
                    f"Image {path} is {arr.shape[1]}x{arr.shape[0]} pixels; this dataset's images "
                    f"are {w}x{h}. Received: shape={arr.shape}"
                )
            x[i] = arr.reshape(h, w, c)

    # PIL releases the GIL while decoding, so two threads use both cores of a small machine.
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(decode, range(0, len(examples), _CHUNK)))
    return x, y
