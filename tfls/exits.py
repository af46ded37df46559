"""How a tfls command ends: one line for bad input, one line for an interrupt, an exit code.

Every entry point (`tfls <command>`, `python -m tfls.recipes.<name>`, the sweep) runs through
`run_command`, so they agree: a `ValueError` or `OSError` (bad input, a missing or corrupt file, a
full disk) prints `<prog>: error: <one line>` and exits 2; Ctrl-C *and SIGTERM* (a batch
scheduler, `kill`, a closing terminal) stop the run as a `KeyboardInterrupt`, so the same
`finally` blocks run (stores closed, a fresh run's own files taken back), print
`<prog>: interrupted; <what was kept>` and exit 130.

Where the work is a loop of steps (training batches, evaluated batches, audit checks), the loop
runs inside `stop_at_safe_points()` and calls `check_stop()` between steps: a first signal there
only asks to stop, and the loop stops at its next step boundary. An exception raised by a signal
handler at an arbitrary instruction can land inside TensorFlow's C++ bindings and surface as a
`SystemError` instead of a clean interrupt; between steps nothing is half done. A second signal
stops at once.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

_stop = threading.Event()  # a first signal arrived inside a region with safe points
_regions = 0  # nesting depth of `stop_at_safe_points` (main thread only)


def _on_signal(signum, frame):
    name = signal.Signals(signum).name
    if _regions and not _stop.is_set():
        _stop.set()  # the loop stops at its next safe point
        return
    raise KeyboardInterrupt(name)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def _handlers():
    if not _main_thread() or signal.getsignal(signal.SIGTERM) is _on_signal:
        yield
        return
    previous = {s: signal.signal(s, _on_signal) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Within this block SIGTERM, like SIGINT, raises `KeyboardInterrupt` (main thread only)."""
    with _handlers():
        yield


@contextlib.contextmanager
def stop_at_safe_points():
    """A loop whose steps call `check_stop()`: a first SIGINT/SIGTERM waits for the next one.

    Only the main thread's signals are deferred (they are only delivered there); elsewhere, and
    for a second signal, `KeyboardInterrupt` is raised at once.
    """
    global _regions
    if not _main_thread():
        yield
        return
    with _handlers():
        _regions += 1
        try:
            yield
        finally:
            _regions -= 1
            if not _regions:
                _stop.clear()


def check_stop() -> None:
    """A safe point: raises `KeyboardInterrupt` if a stop was asked for since the last one."""
    if _stop.is_set():
        _stop.clear()
        raise KeyboardInterrupt("stop requested")


def is_reported_error(e: BaseException) -> bool:
    """Errors that are the input's or the environment's fault: one line, exit 2, no traceback.

    Bad values (`ValueError`), missing or existing files, a full disk or a permission problem
    (`OSError`), and an attack output outside the threat model (`ThreatModelViolation`, which
    names the attack or the broken model).
    """
    if isinstance(e, (ValueError, OSError)):
        return True
    threat = sys.modules.get("tfls.eval.threat")  # only raised once it is imported
    return threat is not None and isinstance(e, threat.ThreatModelViolation)


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
