"""Quiet start-up: TensorFlow's C++ and absl lines are not printed unless asked for.

Importing TensorFlow prints lines from native code (`All log messages before
absl::InitializeLog() is called...`, oneDNN and CPU-feature notices) straight to file
descriptor 2, where `TF_CPP_MIN_LOG_LEVEL` does not reach them. The commands import TensorFlow
and Keras inside `quiet_native_start_up()`, which points descriptor 2 at the null device for the
import only; Python's own errors and warnings, and everything after the import, are untouched.
`--verbose`, or a `TF_CPP_MIN_LOG_LEVEL` of 0 or 1 set by the user, keeps them; a user's 2 or 3
asks for less, so the lines stay dropped and the user's level is kept.
"""

from __future__ import annotations

import contextlib
import os

LEVEL = "TF_CPP_MIN_LOG_LEVEL"


@contextlib.contextmanager
def quiet_native_start_up(verbose: bool = False):
    """Within the block, native writes to stderr are dropped (unless `verbose` or the user set
    `TF_CPP_MIN_LOG_LEVEL` to 0 or 1); TensorFlow's own later C++ logging is limited to errors."""
    user_level = os.environ.get(LEVEL, "").strip()
    if verbose or user_level in ("0", "1"):
        yield
        return
    if user_level not in ("2", "3"):
        os.environ[LEVEL] = "2"
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 (a detached process): nothing to quiet
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def import_quietly(verbose: bool = False) -> None:
    """Imports TensorFlow and Keras inside `quiet_native_start_up` (once per process)."""
    with quiet_native_start_up(verbose):
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
