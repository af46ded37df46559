"""Durable, append-only storage of per-batch results, so that a killed evaluation resumes.

An output folder holds:

* `fingerprint.json`: what is being evaluated (model weights hash, attack configs, dataset
  metadata, `n`, mode). A later run with a different fingerprint is refused, never mixed in.
* `batches.jsonl`: one JSON line per finished batch with per-example results, appended and
  fsync'ed. A line torn by a crash mid-write is the only damage a kill can do; it is dropped
  (and truncated away) on the next open.
* `.lock`: held while an evaluation writes, so two processes never append to the same file.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tfls import io
from tfls.hashing import digest, digest_chunks

BATCHES = "batches.jsonl"
FINGERPRINT = "fingerprint.json"
LOCK = ".lock"


def encode_bits(mask) -> str:
    """A boolean vector as a compact `"0110"` string (one character per example)."""
    return "".join("1" if b else "0" for b in np.asarray(mask, bool).ravel())


def decode_bits(bits: str) -> np.ndarray:
    return np.frombuffer(bits.encode("ascii"), np.uint8) == ord("1")


def batch_digest(x, y) -> str:
    """Hash of a batch's pixels and labels: detects a different dataset, order or batch size."""

    def chunks():
        for a in (np.ascontiguousarray(x), np.ascontiguousarray(y)):
            yield str((a.dtype.str, a.shape))
            yield a.tobytes()

    return digest_chunks(chunks(), algorithm="sha1")


def fingerprint_digest(components: dict) -> str:
    return digest(components, default=io._json_default)


def differences(stored: Any, current: Any, prefix: str = "") -> list[str]:
    """Lists the dotted paths where two JSON-like values differ, with both values."""
    if isinstance(stored, dict) and isinstance(current, dict):
        out: list[str] = []
        for key in sorted(set(stored) | set(current), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in stored:
                out.append(f"{path}: (absent) -> {_short(current[key])}")
            elif key not in current:
                out.append(f"{path}: {_short(stored[key])} -> (absent)")
            else:
                out.extend(differences(stored[key], current[key], path))
        return out
    if _normalise(stored) != _normalise(current):
        return [f"{prefix or '(root)'}: {_short(stored)} -> {_short(current)}"]
    return []


def _normalise(value):
    return json.loads(json.dumps(value, sort_keys=True, default=io._json_default))


def _short(value, limit: int = 60) -> str:
    text = json.dumps(value, default=io._json_default)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class BatchStore:
    """The results folder of one evaluation: fingerprint check, resume, durable appends.

    Args:
        out: the output folder (created on `open`).

    Example:
        >>> store = BatchStore(out)
        >>> for record in store.open(components, resume=True): ...   # finished batches
        >>> store.append({"batch": 0, ...})
        >>> store.close()
    """

    def __init__(self, out: str | os.PathLike):
        self.out = Path(out)
        self.batches_path = self.out / BATCHES
        self.fingerprint_path = self.out / FINGERPRINT
        self._lock_file = None

    def open(self, components: dict, *, resume: bool = True) -> Iterator[dict]:
        """Locks the folder, checks the fingerprint and yields the finished batch records.

        With `resume=False` earlier results in the folder are discarded.

        Raises:
            ValueError: the folder holds results of a different evaluation, another process is
                writing to it, or `batches.jsonl` is damaged somewhere other than its last line.
        """
        if self.out.exists() and not self.out.is_dir():
            raise ValueError(f"`out` must be a folder. Received: out={str(self.out)!r}")
        self.out.mkdir(parents=True, exist_ok=True)
        self._lock()
        digest = fingerprint_digest(components)
        if not resume:
            for path in (self.batches_path, self.fingerprint_path):
                if path.exists():
                    path.unlink()
        if self.fingerprint_path.exists():
            stored = json.loads(self.fingerprint_path.read_text(encoding="utf-8"))
            if stored.get("digest") != digest:
                diffs = differences(stored.get("components", {}), _normalise(components))
                shown = "; ".join(diffs[:6]) + (
                    f"; and {len(diffs) - 6} more" if len(diffs) > 6 else ""
                )
                self.close()
                raise ValueError(
                    f"{str(self.out)!r} holds results of a different evaluation, so it cannot be "
                    f"resumed: {shown or 'fingerprint differs'}. Use another output folder, or "
                    "start over (resume=False, `tfls eval --overwrite`). "
                    f"Received: out={str(self.out)!r}"
                )
        else:
            if self.batches_path.exists():
                self.batches_path.unlink()  # results without a fingerprint cannot be trusted
            io.atomic_write_json(
                self.fingerprint_path, {"digest": digest, "components": components}
            )
        return self._read()

    def _read(self) -> Iterator[dict]:
        if not self.batches_path.exists():
            return iter(())
        good_end = 0
        records = []
        with open(self.batches_path, "rb") as f:
            data_lines = f.read().split(b"\n")
        # The last element is b"" when the file ends in a newline, else a torn final line.
        for number, raw in enumerate(data_lines[:-1]):
            try:
                record = json.loads(raw)
            except ValueError:
                record = None
            if not isinstance(record, dict) or record.get("batch") != len(records):
                self.close()
                raise ValueError(
                    f"{str(self.batches_path)!r} is damaged at line {number + 1} (not the last "
                    "line, so not an interrupted write). Start over with resume=False "
                    "(`tfls eval --overwrite`)."
                )
            records.append(record)
            good_end += len(raw) + 1
        if data_lines[-1]:
            # A write torn by a kill: drop it so the next append starts on a fresh line.
            with open(self.batches_path, "r+b") as f:
                f.truncate(good_end)
                f.flush()
                os.fsync(f.fileno())
        return iter(records)

    def append(self, record: dict) -> None:
        io.append_line(self.batches_path, json.dumps(record, default=io._json_default))

    def _lock(self) -> None:
        if self._lock_file is not None:
            return
        f = open(self.out / LOCK, "a+")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            raise ValueError(
                f"Another evaluation is writing to {str(self.out)!r}; wait for it to finish or use "
                f"another output folder. Received: out={str(self.out)!r}"
            ) from None
        self._lock_file = f

    def close(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
