"""Keeps TensorFlow's native log lines off the app's screen: file descriptor 2 goes to a log file.

TensorFlow's C++ runtime logs through absl straight to file descriptor 2 (the oneDNN notice, the
"before absl::InitializeLog()" warning), ignoring `TF_CPP_MIN_LOG_LEVEL`, and those lines land in
the middle of the drawn screen. Textual draws on `sys.__stderr__`, which is also descriptor 2; so
while the app runs, Textual gets a duplicate of the terminal and descriptor 2 points at a log file.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path


def log_path() -> Path:
    """`$TFLS_CACHE_DIR/tfls-tui.log`, else `~/.cache/tfls/tfls-tui.log`."""
    from tfls.data.cache import cache_dir

    return cache_dir() / "tfls-tui.log"


@contextlib.contextmanager
def native_stderr_to(path: Path):
    """Within the block, descriptor 2 writes to `path` and `sys.__stderr__` to the terminal."""
    stream = sys.__stderr__
    if stream is None or not stream.isatty():
        yield None  # not a terminal (tests, pipes): nothing is drawn over
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    terminal_fd = os.dup(2)
    terminal = os.fdopen(terminal_fd, "w", buffering=1, encoding=stream.encoding, errors="replace")
    with open(path, "a", encoding="utf-8") as log:
        os.dup2(log.fileno(), 2)
        sys.__stderr__ = terminal
        try:
            yield path
        finally:
            sys.__stderr__ = stream
            os.dup2(terminal_fd, 2)
            terminal.close()
