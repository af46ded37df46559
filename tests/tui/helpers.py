"""Pilot helpers shared by the TUI tests."""

from __future__ import annotations

import asyncio

from textual.pilot import Pilot


async def until(pilot: Pilot, condition, *, what: str, timeout: float = 60) -> None:
    """Lets the app process messages until `condition()` holds, for at most `timeout` seconds
    (the bound of `finished`: a loaded machine, e.g. CI beside a benchmark, can take more than
    a few seconds for a worker's first result); fails loudly."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if condition():
            await pilot.pause()  # let the widgets repaint before anyone reads the screen
            return
        await pilot.pause(0.01)
    raise AssertionError(f"timed out waiting for: {what}")


async def finished(screen, timeout: float = 60) -> None:
    """Waits for a RunScreen's run to end (its worker thread posts PlanFinished)."""
    await asyncio.wait_for(screen.finished.wait(), timeout)
