"""Pilot helpers shared by the TUI tests."""

from __future__ import annotations

import asyncio

from textual.pilot import Pilot

POLL = 0.01  # seconds between two looks at the condition
# A poll that took longer than this did not wait: the process was not running (the VM paused,
# and its clock leapt on resume). That time is not counted against the bound.
LEAP = 5.0


async def _wait(app, ready, pause, *, what: str, timeout: float) -> None:
    """Polls `ready()` every `POLL` seconds for at most `timeout` seconds of the app running.

    Fails at once, with the app's own error, if the app crashed (a crashed app can never satisfy
    the condition; waiting would only hide why). On a timeout it names the workers still running.
    """
    loop = asyncio.get_running_loop()
    waited, before = 0.0, loop.time()
    while waited < timeout:
        if ready():
            return
        if app._exception is not None:
            raise AssertionError(f"the app failed while waiting for: {what}") from app._exception
        await pause(POLL)
        now = loop.time()
        step, before = now - before, now
        waited += step if step < LEAP else POLL
    running = ", ".join(f"{w.name} {w.state.name}" for w in app.workers) or "none"
    raise AssertionError(f"timed out waiting for: {what} (workers: {running})")


async def until(pilot: Pilot, condition, *, what: str, timeout: float = 60) -> None:
    """Lets the app process messages until `condition()` holds, for at most `timeout` seconds
    (the bound of `finished`: a loaded machine, e.g. CI beside a benchmark, can take more than
    a few seconds for a worker's first result); fails loudly."""
    await _wait(pilot.app, condition, pilot.pause, what=what, timeout=timeout)
    await pilot.pause()  # let the widgets repaint before anyone reads the screen


async def finished(screen, timeout: float = 60) -> None:
    """Waits for a screen's run to end (its worker thread posts the message that sets
    `screen.finished`: RunScreen's PlanFinished, AuditScreen's AuditFinished)."""
    await _wait(
        screen.app, screen.finished.is_set, asyncio.sleep, what="the run to end", timeout=timeout
    )
