"""How a tfls command ends: one line for bad input, one line for an interrupt, an exit code.

Every entry point (`tfls <command>`, `python -m tfls.recipes.<name>`, the sweep) runs through
`run_command`, so they agree: a `ValueError` or `OSError` (bad input, a missing or corrupt file, a
full disk) prints `<prog>: error: <one line>` and exits 2; Ctrl-C *and SIGTERM* (a batch
scheduler, `kill`, a closing terminal) stop the run as a `KeyboardInterrupt` in the main thread,
so the same `finally` blocks run (stores closed, a fresh run's own files taken back), print
`<prog>: interrupted; <what was kept>` and exit 130.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Within this block SIGTERM raises `KeyboardInterrupt` (main thread only; else a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def is_reported_error(e: BaseException) -> bool:
    """Errors that are the input's or the environment's fault: one line, exit 2, no traceback.

    Bad values (`ValueError`), missing or existing files, a full disk or a permission problem
    (`OSError`), and an attack output outside the threat model (`ThreatModelViolation`, which
    names the attack or the broken model).
    """
    if isinstance(e, (ValueError, OSError)):
        return True
    evaluate = sys.modules.get("tfls.eval.evaluate")  # only raised once it is imported
    return evaluate is not None and isinstance(e, evaluate.ThreatModelViolation)


def one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def interrupted_line(e: KeyboardInterrupt) -> str:
    """What an interrupted command prints: what was kept, when the run says (`tfls.Interrupted`)."""
    from tfls import Interrupted

    if isinstance(e, Interrupted) and str(e):
        return f"interrupted; {one_line(str(e))}."
    return "interrupted; what finished is kept: run the same command again to resume."


def run_command(prog: str, fn: Callable[[], object]) -> int:
    """Runs `fn()` as the command `prog`; returns the exit code (see the module docstring).

    `fn` returns its exit code, or anything else (a result) for 0.
    """
    try:
        with sigterm_as_interrupt():
            code = fn()
            return code if isinstance(code, int) and not isinstance(code, bool) else 0
    except Exception as e:
        if not is_reported_error(e):
            raise
        print(f"{prog}: error: {one_line(str(e))}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt as e:
        print(f"{prog}: {interrupted_line(e)}", file=sys.stderr)
        return EXIT_INTERRUPTED
