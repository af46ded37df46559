"""Atomic file writes, output paths resolved once, and removal of only the files tfls wrote.

A result or checkpoint is either fully there or not there at all; an output path is made
absolute at the edge (`resolve_out`), so no later step depends on the working directory; and tfls
deletes a file only when its name matches what tfls itself writes there (`remove_owned`).
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ""):
    """Yields a temporary path next to `path`; on success it replaces `path` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=suffix or path.suffix, dir=path.parent
    )
    os.close(fd)
    try:
        try:
            yield Path(tmp)
            os.replace(tmp, path)
        except OSError as e:
            # A full disk or a lost permission: say which file, and that its old version stands.
            raise OSError(
                e.errno,
                f"Could not write {str(path)!r} ({e.strerror or e}); its previous version "
                "is unchanged",
            ) from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(
        path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n"
    )


def append_line(path: str | os.PathLike, line: str) -> None:
    """Appends one line durably (fsync); a reader must tolerate a torn final line.

    If the write fails (a full disk), the file is cut back to where it ended, so the next
    append does not glue a line to a fragment, and the error names the file.
    """
    data = memoryview((line.rstrip("\n") + "\n").encode("utf-8"))
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        end = os.lseek(fd, 0, os.SEEK_END)
        try:
            while data:  # unbuffered: a failure is seen here, not again at close
                data = data[os.write(fd, data) :]
            os.fsync(fd)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, end)
            raise OSError(
                e.errno,
                f"Could not append to {str(path)!r} ({e.strerror or e}); the lines before are "
                "kept and the command resumes from there",
            ) from e
    finally:
        os.close(fd)


def _json_default(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serialisable")


def resolve_out(path: str | os.PathLike, *, name: str = "out") -> Path:
    """`path` as an absolute folder path, resolved once at the edge; refuses what cannot be one.

    `~` is expanded and symbolic links are followed, so every later step (checkpoint pointers,
    relative names TensorFlow stores, a resume from another working directory) sees one path.
    `name` is how the caller calls it (`"--out"` in a CLI, `"out"` in Python).

    Raises:
        FileNotFoundError: `path` is a symbolic link whose target does not exist.
        ValueError: `path` exists and is not a folder, or is empty or a link loop.
    """
    key = name.lstrip("-")
    text = os.fspath(path) if isinstance(path, (str, os.PathLike)) else None
    if not text:
        raise ValueError(f"{name} must be a folder path. Received: {key}={path!r}")
    given = Path(os.path.expanduser(text))
    if given.is_symlink() and not given.exists():
        raise FileNotFoundError(
            f"{name} is a symbolic link to {os.readlink(given)!r}, which does not exist; create "
            f"that folder or pass another path. Received: {key}={text!r}"
        )
    try:
        resolved = given.resolve()
    except (OSError, RuntimeError) as e:  # a symlink loop
        raise ValueError(f"{name} cannot be resolved ({e}). Received: {key}={text!r}") from None
    if resolved.exists() and not resolved.is_dir():
        raise ValueError(f"{name} must be a folder, not a file. Received: {key}={text!r}")
    return resolved


def first_missing(path: Path) -> Path | None:
    """The outermost folder of `path` (itself included) that does not exist yet, if any.

    What `path.mkdir(parents=True)` is about to create; `remove_created` undoes exactly that.
    """
    missing = None
    for folder in [path, *path.parents]:
        if folder.exists() or folder.is_symlink():
            break
        missing = folder
    return missing


def remove_created(path: Path, top: Path | None) -> None:
    """Removes `path` and its parents up to `top` (from `first_missing`), each only if empty."""
    if top is None:
        return
    for folder in [path, *path.parents]:
        try:
            folder.rmdir()  # only an empty folder: never anything in it
        except OSError:
            return
        if folder == top:
            return


def owned(rel: str | PurePosixPath, patterns: Iterable[str]) -> bool:
    """Whether the relative path `rel` matches one of `patterns` (fnmatch, `/`-separated)."""
    rel = str(PurePosixPath(rel))
    return any(fnmatch.fnmatchcase(rel, pattern) for pattern in patterns)


def foreign_entries(root: Path, files: Iterable[str], folders: Iterable[str]) -> list[str]:
    """Relative paths under `root` that tfls does not write there, by name, sorted.

    `files` and `folders` are the fnmatch patterns of the files and folders tfls writes; a
    folder that is not tfls' is reported once, without its contents.
    """
    files, folders = tuple(files), tuple(folders)
    found: list[str] = []
    for here, dirs, names in os.walk(root):
        base = PurePosixPath(Path(here).relative_to(root).as_posix())
        kept = []
        for d in sorted(dirs):
            rel = base / d
            if owned(rel, folders) and not (Path(here) / d).is_symlink():
                kept.append(d)
            else:
                found.append(str(rel))
        dirs[:] = kept
        found += [str(base / f) for f in names if not owned(base / f, files)]
    return sorted(found)


def remove_owned(root: Path, files: Iterable[str], folders: Iterable[str]) -> None:
    """Deletes under `root` the files whose names match `files`, then the `folders` left empty.

    Anything else is left where it is, and so is the folder holding it: this is the only way
    tfls deletes what it wrote.
    """
    files, folders = tuple(files), tuple(folders)
    if not root.is_dir():
        return
    for here, dirs, names in os.walk(root, topdown=False):
        base = PurePosixPath(Path(here).relative_to(root).as_posix())
        for f in names:
            if owned(base / f, files):
                (Path(here) / f).unlink(missing_ok=True)
        for d in dirs:
            if owned(base / d, folders) and not (Path(here) / d).is_symlink():
                try:
                    (Path(here) / d).rmdir()
                except OSError:
                    pass  # holds something tfls did not write: kept


LOCK_FILE = ".lock"


class FolderLock:
    """An exclusive, non-blocking `flock` on `<folder>/.lock`: one writer per folder at a time.

    The lock dies with its process (a SIGKILL frees it), so a stale `.lock` file never blocks a
    rerun. `created` says whether this lock made the file, so a writer that commits nothing
    can take it back (`release(remove=True)`).

    Args:
        folder: the folder to guard (must exist).
        busy: the message's start when another process holds it, e.g. "Another evaluation is
            writing to".
    """

    def __init__(self, folder: str | os.PathLike, *, busy: str = "Another tfls process writes to"):
        self.path = Path(folder) / LOCK_FILE
        self.busy = busy
        self.created = False
        self._file = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def acquire(self) -> None:
        """Takes the lock, or raises ValueError naming the folder when another process holds it."""
        import fcntl

        if self._file is not None:
            return
        folder = self.path.parent
        for _ in range(10):
            existed = self.path.exists()
            f = open(self.path, "a+")
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                f.close()
                raise ValueError(
                    f"{self.busy} {str(folder)!r}; wait for it to finish or use another output "
                    f"folder. Received: out={str(folder)!r}"
                ) from None
            # A writer that gave up removes the lock file it created; a lock taken on that
            # removed file guards nothing, so take it again on the file now at `path`.
            try:
                same = os.stat(self.path).st_ino == os.fstat(f.fileno()).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._file, self.created = f, not existed
                return
            f.close()
        raise ValueError(f"Could not lock {str(self.path)!r}. Received: out={str(folder)!r}")

    def release(self, *, remove: bool = False) -> None:
        """Releases the lock; `remove` deletes `.lock` first (while still holding it)."""
        import fcntl

        if self._file is None:
            return
        if remove:
            self.path.unlink(missing_ok=True)
        fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        self._file.close()
        self._file = None
