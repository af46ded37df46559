"""Hex digests that name things: cache folders, evaluation folders, fingerprints.

Two functions, each parametrised by algorithm and truncation so that every caller keeps the exact
value it has always produced (those values name folders committed under `results/` and stored
fingerprints; changing one would make a finished run or evaluation look new):

* `digest(obj)`: of `obj`'s canonical JSON (`json.dumps(obj, sort_keys=True)`).
* `digest_chunks(chunks)`: of a stream of bytes or strings the caller serialises itself (array
  contents, a `repr`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any

ALGORITHMS = ("sha256", "sha1")


def digest_chunks(
    chunks: Iterable[bytes | str], *, algorithm: str = "sha256", length: int | None = None
) -> str:
    """The hex digest of `chunks` fed in order (strings as UTF-8), cut to `length` characters.

    Example:
        >>> digest_chunks([b"abc"], length=8)
        'ba7816bf'
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(
            f"`algorithm` must be one of {ALGORITHMS}. Received: algorithm={algorithm!r}"
        )
    if length is not None and (
        isinstance(length, bool) or not isinstance(length, int) or length < 1
    ):
        raise ValueError(f"`length` must be a positive int or None. Received: length={length!r}")
    h = hashlib.new(algorithm)
    for chunk in chunks:
        h.update(chunk.encode() if isinstance(chunk, str) else chunk)
    text = h.hexdigest()
    return text if length is None else text[:length]


def digest(
    obj: Any,
    *,
    algorithm: str = "sha256",
    length: int | None = None,
    default: Callable[[Any], Any] | None = None,
) -> str:
    """The hex digest of `obj` as canonical JSON (sorted keys, `json.dumps` defaults otherwise).

    Args:
        obj: anything `json.dumps` serialises (with `default` for the rest).
        algorithm: `"sha256"` or `"sha1"`.
        length: keep this many leading hex characters; `None` keeps them all.
        default: `json.dumps`'s fallback for objects it cannot serialise (e.g. `str`).

    Example:
        >>> digest({"b": 1, "a": 2}, length=8) == digest({"a": 2, "b": 1}, length=8)
        True
    """
    text = json.dumps(obj, sort_keys=True, default=default)
    return digest_chunks([text], algorithm=algorithm, length=length)
